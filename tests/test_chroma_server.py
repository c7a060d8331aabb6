"The dense index on a real Chroma server (`chroma run` on loopback) gives the same retrieval as Chroma in process."
import json, os, shutil, socket, subprocess, time, urllib.request
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # a real Chroma server: skipped by the fast tier (pytest tests --fast)

CHROMA = shutil.which("chroma")

def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    if CHROMA is None: pytest.skip("the chroma CLI (from chromadb) is not on PATH")
    port = _free_port()
    proc = subprocess.Popen([CHROMA, "run", "--path", str(tmp_path_factory.mktemp("chroma")), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try: urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1); break
            except OSError: time.sleep(0.25)
        else: pytest.fail("chroma server did not start")
        yield url
    finally:
        proc.terminate(); proc.wait(timeout=30)

def test_index_on_chroma_server(chroma_url, tmp_path):
    from llmforge.retrieval.kb import build_index, load_documents, Embedder, EmbeddingCache, VectorRetriever
    docs, _ = load_documents("hotpotqa")
    corpus = tmp_path / "hp40.jsonl"
    corpus.write_text("".join(json.dumps(dict(id=d.id, title=d.title, text=d.text)) + "\n" for d in docs[:40]))
    emb = Embedder(cache=EmbeddingCache(tmp_path / "emb.sqlite"))
    local = build_index(str(corpus), 128, 16, emb, root=tmp_path / "local")
    remote = build_index(str(corpus), 128, 16, emb, root=tmp_path / "remote", chroma_url=chroma_url)
    assert remote.hash == local.hash and remote.collection.count() == len(remote.chunks)
    assert not (tmp_path / "remote" / f"{remote.folder.name}" / "chroma").exists()       # vectors live on the server
    q = "What government position was held by Shirley Temple?"
    a, b = VectorRetriever(local).search(q, 5), VectorRetriever(remote).search(q, 5)
    assert [h.chunk.id for h in a] == [h.chunk.id for h in b]
    assert all(abs(x.score - y.score) < 1e-5 for x, y in zip(a, b))
    # a server that lost the collection is refilled from the embedding cache when the index is reopened
    remote.collection._client.delete_collection(remote.collection.name)
    again = build_index(str(corpus), 128, 16, emb, root=tmp_path / "remote", chroma_url=chroma_url)
    assert again.meta["reused"] and again.collection.count() == len(again.chunks)
    assert [h.chunk.id for h in VectorRetriever(again).search(q, 5)] == [h.chunk.id for h in a]
