"""Wiki search tool: speed (and the quality of 'Similar:') of the offline Wikipedia `search` tool on the HotpotQA corpus.

    python benchmarks/retrieval/wiki_search.py [--kbs hotpotqa[,squad]] [--rounds 1]

One-time facts: the corpus build time in a fresh process (loading the knowledge bases, the title maps, the trigram and
BM25 indexes; the index libraries and llmforge are imported before it and timed apart) and a second, memoised
`get_corpus`. Then, in rounds (`--repeat` is the old name of `--rounds`), p50/p95/max latency of `search` calls through
the full tool path (argument parsing, worker thread, state copy), measured by the tool's own `latency_s`:

- exact titles: every supporting title of the 300 HotpotQA questions (`example.meta["supporting_titles"]`, 600
  lookups), with the share found; and the dictionary lookup alone (`WikiCorpus.find`, timed here);
- typo: each supporting title with one letter deleted from its longest word (queries that still match a title are
  skipped): not found, so similar titles are ranked; share with the intended title first / among the five similar;
- question: each question as the query: share with a supporting title among the five similar.
"""
import ast, importlib, random, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, percentiles

bench = Bench(__doc__, rounds=1)
bench.alias("--repeat")
bench.parser.add_argument("--kbs", default="hotpotqa", help="comma-separated knowledge bases forming the local Wikipedia")
a = bench.parse()
kbs = tuple(k.strip() for k in a.kbs.split(",") if k.strip())

t_import = time.perf_counter()
import numpy as np
from llmforge.data.datasets import load_dataset
from llmforge.tools.builtin import WikipediaSearch, get_corpus
t_import = time.perf_counter() - t_import
t = time.perf_counter()
for lib in ("sklearn.feature_extraction.text", "bm25s"): importlib.import_module(lib)   # the index libraries, imported apart from the build
t_libs = time.perf_counter() - t
t = time.perf_counter()
corpus = get_corpus(kbs)
t_build = time.perf_counter() - t
t = time.perf_counter(); get_corpus(kbs); t_memo = time.perf_counter() - t
bench.fact(corpus="+".join(kbs), pages=len(corpus), build_s=round(t_build, 3), index_libraries_import_s=round(t_libs, 3),
           llmforge_import_s=round(t_import, 3), memoised_get_corpus_us=round(t_memo * 1e6, 1))
bench.log(f"corpus {'+'.join(kbs)}: {len(corpus)} pages; built in {t_build:.2f} s")

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


def ms(xs) -> dict:
    xs = 1000 * np.asarray(xs)
    return {**{f"{k}_ms": v for k, v in percentiles(xs, (50, 95)).items()}, "max_ms": float(xs.max())}


def similar(text: str) -> list[str]:
    return ast.literal_eval(text.split("Similar: ", 1)[1].rstrip("."))


def exact(rnd):
    lat, found = [], 0
    for t in titles:
        st = {}
        o = search(t, st)
        lat.append(o.latency_s); found += o.ok and st["page"]["title"] == t
    return {**ms(lat), "found_share": found / len(titles), "queries": len(titles)}


def lookup(rnd):
    lat = []
    for t in titles:
        t0 = time.perf_counter(); corpus.find(t); lat.append(time.perf_counter() - t0)
    return {**ms(lat), "queries": len(titles)}


def typo_queries(rnd):
    lat, top1, top5 = [], 0, 0
    for q, t in typos:
        o = search(q, {})
        lat.append(o.latency_s)
        s = similar(o.text) if o.error == "not_found" else []
        top1 += s[:1] == [t]; top5 += t in s
    return {**ms(lat), "first_share": top1 / len(typos), "in_five_share": top5 / len(typos), "queries": len(typos)}


def question_queries(rnd):
    lat, hit = [], 0
    for e in exs:
        o = search(e.question, {})
        lat.append(o.latency_s)
        s = similar(o.text) if o.error == "not_found" else []
        hit += any(g in s for g in e.meta["supporting_titles"])
    return {**ms(lat), "supporting_in_five_share": hit / len(exs), "queries": len(exs)}


bench.compare("search latency and quality", {"exact titles": exact, "find() alone": lookup, "typo (not found)": typo_queries,
                                               "question (not found)": question_queries}, ratios=[])
bench.save()
