"""Index build and query: knowledge-base index build and query speed, and retrieval quality per retriever, on the HotpotQA
knowledge base.

    python benchmarks/retrieval/index_query.py [--chunk-size 256] [--overlap 32] [--k 5] [--fresh]
        [--retrievers bm25,vector,hybrid,reranked] [--n N] [--rounds 1]

One-time facts: the build times (chunking, embedding, Chroma, BM25; or that an existing index was reopened) and the time
to reopen the same index. Then, in rounds, over every HotpotQA question (or the first `--n`), each after a five-query
warm-up:

- query embedding: MiniLM embedding one question, on onnxruntime and on torch (sentence-transformers) side by side
  (ratio torch / onnxruntime);
- query latency and quality: the Chroma top-k search with a precomputed vector, then each retriever's full query
  (vector includes embedding the query, every query embedded afresh) with p50/p95 latency and recall@k / MRR /
  nDCG@k against the gold supporting titles.

The index is built where LlmForge keeps it (`$LLMFORGE_HOME`, default the checkout's `.llmforge`) and reused when it
exists; `--fresh` builds it in a temporary folder with an empty embedding cache.
"""
import os, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, percentiles, timer

bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("--chunk-size", type=int, default=256)
p.add_argument("--overlap", type=int, default=32)
p.add_argument("--k", type=int, default=5)
p.add_argument("--fresh", action="store_true", help="build in a temporary folder with an empty embedding cache")
p.add_argument("--retrievers", default="bm25,vector,hybrid,reranked")
p.add_argument("--n", type=int, default=None, help="questions to query (default: every HotpotQA question)")
a = bench.parse()

from llmforge.core.paths import project_root
os.environ.setdefault("LLMFORGE_HOME", str(project_root() / ".llmforge"))
import numpy as np
from llmforge.data.datasets import load_dataset
from llmforge.retrieval.kb import build_index, Embedder, EmbeddingCache, retrievers
from llmforge.methods.rag import retrieval_metrics

root = tempfile.mkdtemp() if a.fresh else None
emb = Embedder(cache=EmbeddingCache(os.path.join(root, "emb.sqlite")) if root else None)
with timer() as t:
    ix = build_index("hotpotqa", a.chunk_size, a.overlap, emb, root=os.path.join(root, "indexes") if root else None)
m = ix.meta
bench.fact(index=ix.hash, documents=m["n_docs"], chunks=m["n_chunks"], index_reused=bool(m["reused"]), first_build_call_s=round(t.s, 3))
bench.log(f"index {ix.hash}: {m['n_docs']} documents -> {m['n_chunks']} chunks (size {a.chunk_size}, overlap {a.overlap}); "
          f"{'reopened' if m['reused'] else 'built'} in {t.s:.2f} s")
if not m["reused"]:
    b = m["build_s"]
    bench.fact(build_chunk_s=round(b["chunk"], 2), build_embed_s=round(b["embed"], 2), build_chroma_s=round(b["chroma"], 2),
               build_bm25_s=round(b["bm25"], 3), embedded=m["embedded"], embedded_from_cache=m["from_cache"],
               embed_chunks_per_s=round(m["n_chunks"] / max(b["embed"], 1e-9), 1))
with timer() as t:
    build_index("hotpotqa", a.chunk_size, a.overlap, emb, root=os.path.join(root, "indexes") if root else None)
bench.fact(reopen_s=round(t.s, 3))

qs = load_dataset("hotpotqa").examples[:a.n]
emb.cache = None                                    # query latency measures the model, not the embedding cache
questions = [q.question for q in qs]
vecs = {q: v for q, v in zip(questions, emb.embed(questions))}
torch_emb = Embedder(use_cache=False, backend="torch")


def latency_ms(fn, items) -> dict:
    "p50/p95 milliseconds of fn over items, after a five-item warm-up."
    for x in items[:5]: fn(x)
    ts = []
    for x in items:
        with timer() as t: fn(x)
        ts.append(1000 * t.s)
    return {f"{k}_ms": v for k, v in percentiles(ts, (50, 95)).items()}


def embedding(e):
    return lambda rnd: latency_ms(lambda q: e.embed([q]), questions)


def chroma(rnd):
    return latency_ms(lambda q: ix.collection.query(query_embeddings=[vecs[q].tolist()], n_results=a.k, include=["distances"]), questions)


def retriever(name):
    r = retrievers.get(name)(ix)
    def f(rnd):
        for q in qs[:5]: r.search(q.question, a.k)      # warm-up
        ix.embedder.query_memo.clear()                 # every query embedded afresh, for each retriever
        lat, mets = [], []
        for q in qs:
            with timer() as t: hits = r.search(q.question, a.k)
            lat.append(1000 * t.s)
            mets.append(retrieval_metrics([h.chunk.title for h in hits], q.meta["supporting_titles"], a.k))
        return {**{f"{k}_ms": v for k, v in percentiles(lat, (50, 95)).items()},
                **{k: float(np.mean([x[k] for x in mets])) for k in mets[0]}}
    return f


bench.compare(f"MiniLM query embedding ({len(questions)} questions)",
              {"onnxruntime": embedding(emb), "torch": embedding(torch_emb)})
bench.compare(f"top-{a.k} query latency and quality ({len(qs)} questions)",
              {"chroma (precomputed vector)": chroma, **{n: retriever(n) for n in a.retrievers.split(",")}}, ratios=[])
bench.save()
