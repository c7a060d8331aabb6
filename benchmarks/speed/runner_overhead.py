"""Runner overhead: the same naive TriviaQA prompts through LlmForge's runner and through a bare llama-cpp-python loop on
the same loaded model (target: the runner within 5% of the bare loop), and few-shot CoT with the shared prefix reused
from the KV cache vs recomputed for every prompt.

    python benchmarks/speed/runner_overhead.py [--n 50] [--rounds 2] [--cot-n 20] [--shots 5]

1. Runner vs bare loop: `n` naive TriviaQA prompts (seed 0) through `run_experiment` (response cache off, a fresh run
   store, one example at a time) and through a bare loop of `Llama.create_chat_completion` with the same requests in
   the runner's order, on the same loaded SmolLM2 model, the KV cache reset before each side. Rounds alternate which
   side runs first. Model loading is one-time start-up, reported apart. Ratio: runner / bare wall time, within each
   round.
2. Prefix reuse: `cot-n` GSM8K items with `shots`-shot chain-of-thought (max_tokens 128) through the runner, the
   few-shot prefix reused from the KV cache (llama-cpp-python keeps the prefix shared with the previous prompt) vs
   recomputed for every prompt (`Llama.reset()` before each request); same prompts, same order, same outputs.
   Ratio: recomputed / reused wall time.

`--repeats` is the old name of `--rounds`.
"""
import sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer

bench = Bench(__doc__, rounds=2)
bench.alias("--repeats")
bench.parser.add_argument("--n", type=int, default=50, help="naive TriviaQA prompts (default 50)")
bench.parser.add_argument("--cot-n", type=int, default=20, help="GSM8K items for the prefix-reuse comparison (default 20)")
bench.parser.add_argument("--shots", type=int, default=5, help="few-shot examples in the CoT prompt (default 5)")
a = bench.parse()

import atexit, os, shutil
if "LLMFORGE_HOME" not in os.environ:                  # a private home, removed at exit
    os.environ["LLMFORGE_HOME"] = tempfile.mkdtemp(prefix="llmforge-bench-")
    atexit.register(shutil.rmtree, os.environ["LLMFORGE_HOME"], ignore_errors=True)
from llmforge.core.types import Context, Engine
from llmforge.pipeline.config import parse_config
from llmforge.data.datasets import load_dataset
from llmforge.engines.llama_cpp import LlamaCppEngine
from llmforge.engines.cache import CachedEngine
from llmforge.methods.prompting import methods
from llmforge.pipeline.runner import run_experiment, _generation


class ResetEachCall(Engine):
    """Wraps a LlamaCppEngine and clears its KV cache before every request: every prompt is evaluated from its first token.
    One request at a time (the runner would otherwise keep `Engine.default_in_flight` examples in flight on one model)."""
    default_in_flight = 1
    def __init__(self, inner): self.inner, self.kind, self.mode = inner, inner.kind, inner.mode
    def identity(self): return self.inner.identity()
    def generate(self, requests):
        out = []
        for r in requests:
            self.inner.reset(); out += self.inner.generate([r])
        return out


with timer() as t:
    eng = LlamaCppEngine("smollm2-135m-instruct", n_ctx=2048)
bench.fact(startup_s=round(t.s, 3))
bench.log(f"one-time start-up (load SmolLM2 GGUF): {t.s:.2f} s")

# --- 1. runner vs bare loop ---
cfg = parse_config({"name": "bench-runner", "dataset": "triviaqa", "n": a.n, "seed": 0, "method": {"name": "naive"},
                    "runner": {"cache": False, "resume": False, "batch_size": 1}})
method = methods.get("naive")()
examples = load_dataset("triviaqa").sample(a.n, 0)
ctx = Context(eng, generation=_generation(cfg, method))
examples.sort(key=lambda e: method.first_request(e, ctx).text())        # the runner's order
requests = [method.first_request(e, ctx) for e in examples]
runner_engine = CachedEngine(eng, enabled=False)


def bare(rnd):
    eng.reset()
    outs = []
    with timer() as t:
        for r in requests:
            kw = dict(max_tokens=r.max_tokens, temperature=r.temperature, top_p=r.top_p, top_k=r.top_k,
                      repeat_penalty=r.repeat_penalty, stop=list(r.stop), seed=r.seed)
            if r.is_chat: outs.append(eng.llm.create_chat_completion(messages=r.messages, **kw)["choices"][0]["message"]["content"])
            else: outs.append(eng.llm.create_completion(prompt=r.prompt, **kw)["choices"][0]["text"])
    return {"s": t.s, "_outputs": outs}


def runner(rnd):
    eng.reset()
    with tempfile.TemporaryDirectory() as d:
        with timer() as t:
            res = run_experiment(cfg, engine=runner_engine, progress=False, store_dir=d)
    by_id = {r.id: r.raw_output for r in res.records}
    return {"s": t.s, "loop_s": res.wall_time_s, "_outputs": [by_id.get(e.id) for e in examples]}


c = bench.compare("runner vs bare loop", {"bare": bare, "runner": runner}, ratio_of=("s",))
same = [sum(x == y for x, y in zip(row["runner"]["_outputs"], row["bare"]["_outputs"])) for row in c.rounds]
ratio = c.summary()["ratios"]["runner / bare"]["s"]
bench.fact(identical_outputs=f"{min(same)}/{a.n} (fewest in a round)", target="runner / bare s <= 1.05",
           target_met=ratio["median"] <= 1.05)

# --- 2. few-shot CoT: prefix reused vs recomputed ---
cot_cfg = parse_config({"name": "bench-prefix", "dataset": "gsm8k", "n": a.cot_n, "seed": 0,
                        "method": {"name": "cot", "options": {"shots": a.shots}},
                        "generation": {"max_tokens": 128}, "runner": {"cache": False, "resume": False, "batch_size": 1}})


def cot_run(engine):
    def run(rnd):
        eng.reset()
        with tempfile.TemporaryDirectory() as d:
            with timer() as t:
                r = run_experiment(cot_cfg, engine=CachedEngine(engine, enabled=False), progress=False, store_dir=d)
        return {"s": t.s, "s_per_item": t.s / a.cot_n, "prompt_tokens_per_item": sum(x.prompt_tokens for x in r.records) / len(r.records),
                "_outputs": [x.raw_output for x in r.records]}
    return run


c2 = bench.compare(f"few-shot CoT ({a.shots}-shot) prefix reuse", {"reused": cot_run(eng), "recomputed": cot_run(ResetEachCall(eng))},
                   ratio_of=("s",))
same = [sum(x == y for x, y in zip(row["reused"]["_outputs"], row["recomputed"]["_outputs"])) for row in c2.rounds]
bench.fact(prefix_identical_outputs=f"{min(same)}/{a.cot_n} (fewest in a round)")
bench.save()
