"""Speed (and the quality of 'Similar:') of the offline Wikipedia `search` tool on the HotpotQA corpus.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_wiki.py [--kbs hotpotqa[,squad]] [--repeat 1]

Prints the corpus build time (a fresh process: loading the knowledge bases, the title maps, the trigram and BM25 indexes),
then p50/p95 latency of `search` calls through the full tool path (argument parsing, worker thread, state copy), measured by
the tool's own `latency_s`:

- exact-title lookups: every supporting title of the 300 HotpotQA questions (`example.meta["supporting_titles"]`, 600 lookups);
- not-found queries, which also rank similar titles: each supporting title with one letter deleted from its longest word
  (a typo; queries that still match a title are skipped), and each question as the query;

with, for the not-found queries, how often the intended title is first / among the five similar titles (typos), or how often
a supporting title is among the five (questions). Run it on an otherwise idle machine.
"""
import argparse, random, time

t_import = time.perf_counter()
import numpy as np
from llmforge.data.datasets import load_dataset
from llmforge.tools.builtin import WikipediaSearch, get_corpus
t_import = time.perf_counter() - t_import

p = argparse.ArgumentParser()
p.add_argument("--kbs", default="hotpotqa", help="comma-separated knowledge bases forming the local Wikipedia")
p.add_argument("--repeat", type=int, default=1, help="how many times to run each query set")
a = p.parse_args()
kbs = tuple(k.strip() for k in a.kbs.split(",") if k.strip())

t = time.perf_counter()
import sklearn.feature_extraction.text, bm25s          # the index libraries, imported apart from the build
t_libs = time.perf_counter() - t
t = time.perf_counter()
corpus = get_corpus(kbs)
t_build = time.perf_counter() - t
print(f"corpus {'+'.join(kbs)}: {len(corpus)} pages; built in {t_build:.2f} s (index libraries imported in {t_libs:.2f} s before, "
      f"llmforge in {t_import:.2f} s)")
t = time.perf_counter(); get_corpus(kbs)
print(f"  second get_corpus (memoised): {(time.perf_counter() - t) * 1e6:.1f} us")

search = WikipediaSearch(kbs=kbs)
exs = load_dataset("hotpotqa").examples
titles = [t for e in exs for t in e.meta["supporting_titles"]]
rng = random.Random(0)

def typo(title: str) -> str:
    w = title.split(); i = max(range(len(w)), key=lambda j: len(w[j])); x = w[i]
    if len(x) > 3:
        k = rng.randrange(1, len(x) - 1); x = x[:k] + x[k + 1:]
    w[i] = x
    return " ".join(w)

typos = [(typo(t), t) for t in titles]
typos = [(q, t) for q, t in typos if corpus.find(q)[0] is None]
search("warm up", {})                                    # the first call runs setup (already built: memoised)

def pct(xs):
    xs = np.array(xs) * 1000
    return f"p50 {np.percentile(xs, 50):.3f} ms, p95 {np.percentile(xs, 95):.3f} ms, max {xs.max():.2f} ms"

def similar(text: str) -> list[str]:
    inner = text.split("Similar: ", 1)[1].rstrip(".")
    import ast
    return ast.literal_eval(inner)

lat, found = [], 0
for _ in range(a.repeat):
    for t in titles:
        st = {}
        o = search(t, st)
        lat.append(o.latency_s); found += o.ok and st["page"]["title"] == t
print(f"exact-title lookups ({len(titles)} x {a.repeat}): {pct(lat)}; found {found}/{len(titles) * a.repeat}")
lat = []
for t in titles:
    t0 = time.perf_counter(); corpus.find(t); lat.append(time.perf_counter() - t0)
print(f"  the dictionary lookup alone (WikiCorpus.find): {pct(lat)}")

lat, top1, top5 = [], 0, 0
for _ in range(a.repeat):
    for q, t in typos:
        o = search(q, {})
        lat.append(o.latency_s)
        s = similar(o.text) if o.error == "not_found" else []
        top1 += s[:1] == [t]; top5 += t in s
n = len(typos) * a.repeat
print(f"not found, a title with a typo ({len(typos)} x {a.repeat}): {pct(lat)}; intended title first {top1 / n:.1%}, "
      f"in the five {top5 / n:.1%}")
lat, hit = [], 0
for _ in range(a.repeat):
    for e in exs:
        o = search(e.question, {})
        lat.append(o.latency_s)
        s = similar(o.text) if o.error == "not_found" else []
        hit += any(g in s for g in e.meta["supporting_titles"])
print(f"not found, the question as query ({len(exs)} x {a.repeat}): {pct(lat)}; a supporting title in the five "
      f"{hit / (len(exs) * a.repeat):.1%}")
