"""Batched vs sequential runs: how fast a study runs, per method, sequentially, batched and as a cached re-run, side by
side in one process, and LlmForge's batched generation against raw llama.cpp decoding of the same prompts (the ceiling).

    python benchmarks/speed/batched_runs.py [--n 100] [--batch 8] [--rounds 1] [--methods naive,cot,react,rag]
        [--two-stage false|auto] [--model smollm2-135m-instruct] [--n-ctx 2048]

For each method (naive, 3-shot chain-of-thought and ReAct on GSM8K; RAG with hybrid retrieval on HotpotQA) it runs the same
`n` items, each run in a fresh run store:

- sequential: `runner.batch_size: 1`, response cache off;
- batched: `runner.batch_size: B` (B examples in flight, llama.cpp decoding up to B sequences per step), filling an empty
  response cache; then, as part of the same variant, the batched run again with every response served from the cache
  (`cached_*` measurements; `cached_rerun_speedup_e2e` is the first batched run's end-to-end time over the cached one's);

with wall time, examples/s, generated tokens/s, latency p50/p95 and accuracy, and how often sequential and batched agree
(same scored answer; same raw text). Ratio: batched / sequential examples/s, within each round.

The ceiling (with cot): the chain-of-thought run's first requests (same prompts, same max_tokens and stop) decoded by the
engine one at a time (`raw_sequential`) and by the batched decoder with nothing around it (`raw_batched`: no runner,
scoring or tracking), in the same rounds as cot's runner variants; LlmForge's batched aggregate tokens/s over the raw
batched figure is its share of raw. For that comparison to be on the same work, cot makes one generation per item
(`two_stage: false`), as the raw decoder and lm-evaluation-harness's GSM8K CoT do; `--two-stage auto` runs LlmForge's
default instead, which adds a short "Therefore, the answer is" call for items whose reasoning states no answer: requests
at long positions that the raw figure does not include.

Rounds run every method's comparison once, then again (`--repeat` is the old name of `--rounds`), each in the harness's
alternating order. On a shared machine single runs of the same work differ by up to ~20%, so one round settles little.
Everything runs in a temporary `LLMFORGE_HOME`, so no earlier response is reused (built RAG indexes and cached embeddings
of `$LLMFORGE_HOME` or the checkout's `.llmforge` are linked in, so index building is not timed when they exist).
"""
import atexit, os, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer

bench = Bench(__doc__, rounds=1)
bench.alias("--repeat")
p = bench.parser
p.add_argument("--n", type=int, default=100)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--methods", default="naive,cot,react,rag")
p.add_argument("--model", default="smollm2-135m-instruct")
p.add_argument("--n-ctx", type=int, default=2048)
p.add_argument("--two-stage", choices=("false", "auto"), default="false",
               help="cot's two_stage option: false = one generation per item, as the raw ceiling decodes (default)")
a = bench.parse()

from llmforge.core.paths import project_root
_real = Path(os.environ.get("LLMFORGE_HOME") or project_root() / ".llmforge").expanduser()
HOME = tempfile.mkdtemp(prefix="llmforge-bench-")
os.environ["LLMFORGE_HOME"] = HOME                       # a response cache and run stores of this benchmark only
atexit.register(shutil.rmtree, HOME, ignore_errors=True)  # removed at exit (the links, not what they point to)
for name in ("indexes", "embeddings.sqlite", "onnx", "file_hashes.json"):   # but built indexes and embeddings are reused
    if (_real / name).exists(): os.symlink((_real / name).resolve(), Path(HOME) / name)
import numpy as np
from llmforge.pipeline.config import parse_config
from llmforge.pipeline.runner import run_experiment
from llmforge.engines.llama_cpp import LlamaCppEngine
from llmforge.engines.batching import BatchedLlama
from _prompts import cot_requests

METHODS = {"naive": ("gsm8k", {"name": "naive"}),
           "cot": ("gsm8k", {"name": "cot", "options": {"shots": 3, "two_stage": "auto" if a.two_stage == "auto" else False}}),
           "react": ("gsm8k", {"name": "react", "options": {"max_iterations": 6}}),
           "rag": ("hotpotqa", {"name": "rag", "options": {"kb": "hotpotqa", "retriever": "hybrid", "k": 5}})}


def config(method: str, batch: int, cache: bool):
    ds, m = METHODS[method]
    n_ctx = 4096 if method in ("react", "rag") else a.n_ctx
    return parse_config({"name": f"bench-{method}-b{batch}", "model": a.model, "engine": {"kind": "llama_cpp", "n_ctx": n_ctx},
                         "dataset": ds, "n": a.n, "seed": 0, "method": m, "generation": {"temperature": 0.0},
                         "runner": {"batch_size": batch, "cache": cache}})


def run(method: str, label: str, batch: int, cache: bool, rnd: int) -> dict:
    "One runner run with its figures; `_records` kept for the agreement check."
    with timer() as t:
        res = run_experiment(config(method, batch, cache), progress=False, store_dir=Path(HOME) / "runs" / f"{method}-{label}-{rnd}")
    s, recs = res.summary, res.records
    gen = sum(r.completion_tokens for r in recs if not r.cached)
    return dict(e2e_s=t.s, wall_s=res.wall_time_s, ex_per_s=len(recs) / res.wall_time_s, gen_tok_per_s=gen / res.wall_time_s,
                p50_s=s.get("latency_p50", 0), p95_s=s.get("latency_p95", 0), accuracy=s["accuracy"], cached=int(s["n_cached"]),
                failed=int(s["n_failed"]), engine=res.profile.get("engine", {}), _records=recs)


def sequential(method):
    return lambda rnd: run(method, "sequential", 1, False, rnd)


def batched(method):
    "The batched run from an empty response cache, then the same run again served from the cache."
    def f(rnd):
        for x in Path(HOME).glob("responses.sqlite*"): x.unlink()
        out = run(method, "batched", a.batch, True, rnd)
        c = run(method, "cached", a.batch, True, rnd)
        out.update(cached_e2e_s=c["e2e_s"], cached_wall_s=c["wall_s"], cached_n=c["cached"],
                   cached_rerun_speedup_e2e=out["e2e_s"] / max(c["e2e_s"], 1e-9))
        return out
    return f


methods = a.methods.split(",")
unknown = set(methods) - set(METHODS)
if unknown: bench.parser.error(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")
comparisons = {}
for m in methods:
    variants = {"sequential": sequential(m), "batched": batched(m)}
    ratios = [("batched", "sequential")]
    if m == "cot":                                    # the raw engine is loaded once, outside every timed variant
        raw_eng = LlamaCppEngine(a.model, n_ctx=a.n_ctx)
        raw_reqs = cot_requests(raw_eng, a.n, shots=METHODS["cot"][1]["options"]["shots"])

        def raw_sequential(rnd):
            raw_eng.llm.reset()                       # cold, as every runner variant starts
            with timer() as t: out = [raw_eng.generate([r])[0] for r in raw_reqs]
            return dict(s=t.s, gen_tok_per_s=sum(r.completion_tokens for r in out) / t.s, _texts=[o.text for o in out])

        def raw_batched(rnd):
            bl = BatchedLlama(raw_eng.llm, n_seq=a.batch)
            try:
                with timer() as t: out = bl.run(raw_reqs)
            finally: bl.close()
            return dict(s=t.s, gen_tok_per_s=sum(r.completion_tokens for r in out) / t.s, decoder=dict(bl.stats),
                        _texts=[o.text for o in out])

        variants.update(raw_sequential=raw_sequential, raw_batched=raw_batched)
        ratios += [("raw_batched", "raw_sequential"), ("batched", "raw_batched")]
    comparisons[m] = bench.comparison(m, variants, ratios=ratios, ratio_of=("ex_per_s", "gen_tok_per_s"),
                                      show=("e2e_s", "wall_s", "ex_per_s", "gen_tok_per_s", "accuracy", "cached_rerun_speedup_e2e", "s"))
bench.run(*comparisons.values())

for m, c in comparisons.items():                      # agreement, the worst round
    ans = [float(np.mean([x.predicted == y.predicted for x, y in zip(r["sequential"]["_records"], r["batched"]["_records"])])) for r in c.rounds]
    txt = [float(np.mean([x.raw_output == y.raw_output for x, y in zip(r["sequential"]["_records"], r["batched"]["_records"])])) for r in c.rounds]
    bench.fact(**{f"{m}_same_answer_worst_round": round(min(ans), 3), f"{m}_same_raw_text_worst_round": round(min(txt), 3)})
    if m == "cot":
        raw = [float(np.mean([x == y for x, y in zip(r["raw_sequential"]["_texts"], r["raw_batched"]["_texts"])])) for r in c.rounds]
        bench.fact(raw_same_text_worst_round=round(min(raw), 3))
bench.fact(cores=os.cpu_count(), cot_two_stage=a.two_stage)
bench.save()
