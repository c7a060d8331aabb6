"""How fast a study runs: methods x execution (sequential, batched, cached re-run), measured side by side in one process,
and LlmForge's batched generation against raw llama.cpp decoding of the same prompts.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_speed.py [--n 100] [--batch 8] [--repeat 1]
        [--methods naive,cot,react,rag] [--two-stage false|auto] [--model smollm2-135m-instruct] [--out reports/bench_speed.json]

For each method (naive, 3-shot chain-of-thought and ReAct on GSM8K; RAG with hybrid retrieval on HotpotQA) it runs the same
`n` items three ways, each in a fresh run store:

- sequential: `runner.batch_size: 1`, response cache off;
- batched: `runner.batch_size: B` (B examples in flight, llama.cpp decoding up to B sequences per step), filling an empty
  response cache;
- cached: the batched run again, every response served from the cache;

and prints wall time, examples/s, generated tokens/s, latency p50/p95 and accuracy, the speed-up of batched over
sequential, and how often the two agree (same scored answer; same raw text). The ceiling (with cot): the chain-of-thought
run's first requests (same prompts, same max_tokens and stop) decoded by the engine one at a time and by the batched decoder
with nothing around it (no runner, scoring or tracking); LlmForge's batched aggregate tokens/s is reported as a share of the
raw batched figure. For that comparison to be on the same work, cot makes one generation per item (`two_stage: false`),
as the raw decoder and lm-evaluation-harness's GSM8K CoT do; `--two-stage auto` runs LlmForge's default instead, which adds
a short "Therefore, the answer is" call for items whose reasoning states no answer (about 30 of 100 with SmolLM2): requests
at long positions that the raw figure does not include.

`--repeat R` runs the whole sequence R times, so every ratio is measured R times on the same machine minutes apart: even
rounds run sequential, batched, cached, then (cot) raw sequential and raw batched; odd rounds run batched, cached,
sequential, with the raw ceiling first, so that no side always runs first. It prints each round's ratios and their median
and range. On a shared machine single runs of the same work differ by up to ~20%, so one round settles little.

Everything runs in a temporary `LLMFORGE_HOME`, so no earlier response is reused (built RAG indexes and cached embeddings
are linked in, so index building is not timed). Run it on an otherwise idle machine.
"""
import argparse, json, os, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from llmforge.core.paths import home_dir
_real = home_dir()
HOME = tempfile.mkdtemp(prefix="llmforge-bench-")
os.environ["LLMFORGE_HOME"] = HOME                       # a response cache and run stores of this benchmark only
for name in ("indexes", "embeddings.sqlite", "onnx", "file_hashes.json"):   # but built indexes and embeddings are reused
    if (_real / name).exists(): os.symlink((_real / name).resolve(), Path(HOME) / name)
import numpy as np
from llmforge.pipeline.config import parse_config
from llmforge.pipeline.runner import run_experiment
from llmforge.engines.llama_cpp import LlamaCppEngine
from _prompts import cot_requests

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=100)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--methods", default="naive,cot,react,rag")
p.add_argument("--model", default="smollm2-135m-instruct")
p.add_argument("--n-ctx", type=int, default=2048)
p.add_argument("--two-stage", choices=("false", "auto"), default="false",
               help="cot's two_stage option: false = one generation per item, as the raw ceiling decodes (default)")
p.add_argument("--repeat", type=int, default=1, help="rounds of the whole comparison (default 1)")
p.add_argument("--out", default="reports/bench_speed.json")
a = p.parse_args()

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


def figures(res, e2e: float) -> dict:
    s, recs = res.summary, res.records
    gen = sum(r.completion_tokens for r in recs if not r.cached)
    return dict(e2e_s=round(e2e, 2), wall_s=round(res.wall_time_s, 2), ex_per_s=round(len(recs) / res.wall_time_s, 3),
                gen_tok_per_s=round(gen / res.wall_time_s, 1), p50_s=round(s.get("latency_p50", 0), 3),
                p95_s=round(s.get("latency_p95", 0), 3), accuracy=round(s["accuracy"], 3), cached=int(s["n_cached"]),
                failed=int(s["n_failed"]), engine=res.profile.get("engine", {}))


def spread(xs: list[float]) -> dict:
    return dict(median=round(float(np.median(xs)), 3), min=round(min(xs), 3), max=round(max(xs), 3), each=[round(x, 3) for x in xs])


def show(xs: list[float], fmt: str = "{:.2f}x") -> str:
    return (fmt.format(xs[0]) if len(xs) == 1 else
            f"median {fmt.format(float(np.median(xs)))} (range {fmt.format(min(xs))}-{fmt.format(max(xs))}; each {', '.join(fmt.format(x) for x in xs)})")


def run_method(method: str, rnd: int) -> dict:
    """One round of `method`: sequential, batched (empty cache), cached, in that order in even rounds and batched, cached,
    sequential in odd ones (so that neither side always runs first); figures and agreement."""
    for f in Path(HOME).glob("responses.sqlite*"): f.unlink()        # every round's batched run starts with an empty cache
    runs, out = {}, {}
    rows = [("sequential", 1, False), ("batched", a.batch, True), ("cached", a.batch, True)]
    for label, batch, cache in (rows if rnd % 2 == 0 else rows[1:] + rows[:1]):
        t = time.perf_counter()
        res = run_experiment(config(method, batch, cache), progress=False,
                             store_dir=Path(HOME) / "runs" / f"{method}-{label}-{rnd}")
        runs[label] = res
        f = out[label] = figures(res, time.perf_counter() - t)
        print(f"{method:6s} {label:10s} e2e {f['e2e_s']:7.1f} s  wall {f['wall_s']:7.1f} s  {f['ex_per_s']:6.2f} ex/s  {f['gen_tok_per_s']:6.1f} gen tok/s  "
              f"p50 {f['p50_s']:6.2f} s  p95 {f['p95_s']:6.2f} s  accuracy {f['accuracy']:.3f}  cached {f['cached']}", flush=True)
    seq, bat = runs["sequential"].records, runs["batched"].records
    same_answer = float(np.mean([x.predicted == y.predicted for x, y in zip(seq, bat)]))
    same_text = float(np.mean([x.raw_output == y.raw_output for x, y in zip(seq, bat)]))
    out["agreement"] = dict(answer=round(same_answer, 3), raw_text=round(same_text, 3))
    out["batched_over_sequential"] = round(out["batched"]["ex_per_s"] / out["sequential"]["ex_per_s"], 3)
    out["cached_rerun_speedup_e2e"] = round(out["batched"]["e2e_s"] / max(out["cached"]["e2e_s"], 1e-9), 1)
    print(f"{method:6s} batched / sequential: {out['batched_over_sequential']:.2f}x examples/s; same answer {same_answer:.1%}, "
          f"same raw text {same_text:.1%}; cached re-run {out['cached_rerun_speedup_e2e']:.0f}x faster than the first batched run, "
          f"end to end (engine start, data loading and setup included)", flush=True)
    return out


def run_ceiling(eng, reqs: list) -> dict:
    "The same CoT prompts through the engine one at a time and through the batched decoder alone."
    from llmforge.engines.batching import BatchedLlama
    eng.llm.reset()                                                   # cold, as every runner row starts
    t = time.perf_counter(); seq = [eng.generate([r])[0] for r in reqs]; t_seq = time.perf_counter() - t
    bl = BatchedLlama(eng.llm, n_seq=a.batch)
    try:
        t = time.perf_counter(); bat = bl.run(reqs); t_bat = time.perf_counter() - t
    finally: bl.close()
    raw_seq = sum(r.completion_tokens for r in seq) / t_seq
    raw_bat = sum(r.completion_tokens for r in bat) / t_bat
    out = dict(raw_sequential_tok_s=round(raw_seq, 1), raw_batched_tok_s=round(raw_bat, 1),
               raw_batched_over_sequential=round(raw_bat / raw_seq, 3),
               raw_same_text=round(float(np.mean([x.text == y.text for x, y in zip(seq, bat)])), 3), decoder=bl.stats)
    print(f"raw llama.cpp, same {len(reqs)} CoT prompts: sequential {raw_seq:.1f} tok/s, batched x{a.batch} {raw_bat:.1f} tok/s "
          f"({raw_bat / raw_seq:.2f}x)", flush=True)
    return out


methods = a.methods.split(",")
rounds: dict[str, list] = {m: [] for m in methods}
ceiling = []
if "cot" in methods:          # the raw engine is loaded once, outside every timed row
    raw_eng = LlamaCppEngine(a.model, n_ctx=a.n_ctx)
    raw_reqs = cot_requests(raw_eng, a.n, shots=METHODS["cot"][1]["options"]["shots"])
for rnd in range(a.repeat):
    if a.repeat > 1: print(f"-- round {rnd + 1} of {a.repeat}", flush=True)
    for method in methods:
        if method != "cot":
            rounds[method].append(run_method(method, rnd)); continue
        if rnd % 2: c = run_ceiling(raw_eng, raw_reqs)                 # raw first in odd rounds
        rounds[method].append(run_method(method, rnd))
        if not rnd % 2: c = run_ceiling(raw_eng, raw_reqs)
        ours = rounds["cot"][-1]["batched"]["gen_tok_per_s"]
        c["llmforge_batched_share_of_raw"] = round(ours / c["raw_batched_tok_s"], 3)
        ceiling.append(c)
        print(f"LlmForge batched CoT {ours:.1f} tok/s = {c['llmforge_batched_share_of_raw']:.0%} of raw batched "
              f"({c['raw_batched_tok_s']:.1f} tok/s)", flush=True)

results = {}
print(f"-- summary over {a.repeat} round(s), n={a.n}, {os.cpu_count()} cores, cot two_stage {a.two_stage}")
for method in methods:
    rs = rounds[method]
    ratio = [r["batched_over_sequential"] for r in rs]
    cached = [r["cached_rerun_speedup_e2e"] for r in rs]
    agree = {k: min(r["agreement"][k] for r in rs) for k in ("answer", "raw_text")}     # the worst round
    results[method] = dict(rounds=rs, batched_over_sequential=spread(ratio), cached_rerun_speedup_e2e=spread(cached),
                           agreement=agree)
    print(f"{method:6s} batched / sequential {show(ratio)}; cached re-run {show(cached, '{:.0f}x')}; "
          f"same raw text, worst round: {agree['raw_text']:.1%}")
if ceiling:
    share = [c["llmforge_batched_share_of_raw"] for c in ceiling]
    raw_x = [c["raw_batched_over_sequential"] for c in ceiling]
    results["ceiling"] = dict(rounds=ceiling, llmforge_batched_share_of_raw=spread(share), raw_batched_over_sequential=spread(raw_x))
    print(f"ceiling: raw batched / raw sequential {show(raw_x)}; LlmForge batched CoT = {show(share, '{:.0%}')} of raw batched")

Path(a.out).parent.mkdir(parents=True, exist_ok=True)
Path(a.out).write_text(json.dumps(dict(n=a.n, batch=a.batch, repeat=a.repeat, two_stage=a.two_stage, cores=os.cpu_count(), model=a.model,
                                       results=results), indent=1, default=str))
print(f"figures in {a.out}")
