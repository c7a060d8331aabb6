"""Knowledge-base index build and query speed, and retrieval quality per retriever, on the HotpotQA knowledge base.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_retrieval.py [--chunk-size 256] [--overlap 32] [--k 5] [--fresh]
        [--retrievers bm25,vector,hybrid,reranked]

Prints the build times (chunking, embedding, Chroma, BM25; a second call reopens the index), the two parts of a vector query
measured apart (embedding the query with MiniLM, on onnxruntime and on torch side by side; the Chroma search with a
precomputed vector), then for each retriever the
query latency p50/p95 over every HotpotQA question (vector includes embedding the query) and recall@k / MRR / nDCG@k against
the gold supporting titles. Run it on an otherwise idle machine.
"""
import argparse, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
from llmforge.data.datasets import load_dataset
from llmforge.retrieval.kb import build_index, Embedder, EmbeddingCache, retrievers
from llmforge.methods.rag import retrieval_metrics

p = argparse.ArgumentParser()
p.add_argument("--chunk-size", type=int, default=256)
p.add_argument("--overlap", type=int, default=32)
p.add_argument("--k", type=int, default=5)
p.add_argument("--fresh", action="store_true", help="build in a temporary folder with an empty embedding cache")
p.add_argument("--retrievers", default="bm25,vector,hybrid,reranked")
a = p.parse_args()
root = tempfile.mkdtemp() if a.fresh else None
emb = Embedder(cache=EmbeddingCache(os.path.join(root, "emb.sqlite")) if root else None)
t = time.perf_counter()
ix = build_index("hotpotqa", a.chunk_size, a.overlap, emb, root=os.path.join(root, "indexes") if root else None)
first = time.perf_counter() - t
m = ix.meta
print(f"index {ix.hash}: {m['n_docs']} documents -> {m['n_chunks']} chunks (size {a.chunk_size}, overlap {a.overlap}); "
      f"{'reopened' if m['reused'] else 'built'} in {first:.2f} s")
if not m["reused"]:
    b = m["build_s"]
    print(f"  build: chunking {b['chunk']:.1f} s, embedding {b['embed']:.1f} s ({m['embedded']} embedded, {m['from_cache']} from cache, "
          f"{m['n_chunks'] / max(b['embed'], 1e-9):.0f} chunks/s), Chroma {b['chroma']:.1f} s, BM25 {b['bm25']:.2f} s")
t = time.perf_counter(); build_index("hotpotqa", a.chunk_size, a.overlap, emb, root=os.path.join(root, "indexes") if root else None)
print(f"  reopening the same index: {time.perf_counter() - t:.3f} s")
qs = load_dataset("hotpotqa").examples
emb.cache = None                                    # query latency measures the model, not the embedding cache

def p50_p95(fn, items):
    for x in items[:5]: fn(x)                       # warm-up
    ts = []
    for x in items:
        t = time.perf_counter(); fn(x); ts.append(time.perf_counter() - t)
    return 1000 * np.percentile(ts, 50), 1000 * np.percentile(ts, 95)

questions = [q.question for q in qs]
vecs = {q: v for q, v in zip(questions, emb.embed(questions))}
torch_emb = Embedder(use_cache=False, backend="torch")
for name, e in (("onnxruntime", emb), ("torch (sentence-transformers)", torch_emb)):
    e50, e95 = p50_p95(lambda q: e.embed([q]), questions)
    print(f"MiniLM query embedding, {name}: p50 {e50:.2f} ms p95 {e95:.2f} ms")
c50, c95 = p50_p95(lambda q: ix.collection.query(query_embeddings=[vecs[q].tolist()], n_results=a.k, include=["distances"]), questions)
print(f"Chroma top-{a.k} search with a precomputed vector: p50 {c50:.2f} ms p95 {c95:.2f} ms")
for name in a.retrievers.split(","):
    r = retrievers.get(name)(ix)
    for q in qs[:5]: r.search(q.question, a.k)      # warm-up
    lat, mets = [], []
    ix.embedder.query_memo.clear()                 # every query embedded afresh, for each retriever
    for q in qs:
        t = time.perf_counter(); hits = r.search(q.question, a.k); lat.append(time.perf_counter() - t)
        mets.append(retrieval_metrics([h.chunk.title for h in hits], q.meta["supporting_titles"], a.k))
    lat = 1000 * np.array(lat)
    avg = {k: np.mean([x[k] for x in mets]) for k in mets[0]}
    print(f"{name:7s} query p50 {np.percentile(lat, 50):6.2f} ms  p95 {np.percentile(lat, 95):6.2f} ms  "
          f"recall@{a.k} {avg[f'recall_at_{a.k}']:.3f}  MRR {avg['mrr']:.3f}  nDCG@{a.k} {avg[f'ndcg_at_{a.k}']:.3f}  (n={len(qs)})")
