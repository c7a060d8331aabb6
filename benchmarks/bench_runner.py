"""Runner overhead and KV-cache prefix reuse, measured side by side in one process.

1. Runner vs bare loop: the same 50 naive TriviaQA prompts through `run_experiment` (response cache off) and through a bare
   llama-cpp-python loop (`Llama.create_chat_completion`) on the same loaded model, alternating A/B/A/B so drift on a shared
   machine hits both sides. Model loading is one-time start-up and reported apart.
2. Few-shot CoT with the shared few-shot prefix reused from the KV cache vs recomputed for every prompt (`Llama.reset()` before
   each request), same prompts, same order, same outputs.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_runner.py [--n 50] [--repeats 2] [--cot-n 20]
"""
import argparse, os, statistics, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LLMFORGE_HOME", tempfile.mkdtemp(prefix="llmforge-bench-"))
from llmforge.core.types import Context, Engine
from llmforge.pipeline.config import parse_config
from llmforge.data.datasets import load_dataset
from llmforge.engines.llama_cpp import LlamaCppEngine
from llmforge.engines.cache import CachedEngine
from llmforge.methods.prompting import methods
from llmforge.pipeline.runner import run_experiment, _generation


class ResetEachCall(Engine):
    "Wraps a LlamaCppEngine and clears its KV cache before every request: every prompt is evaluated from its first token."
    def __init__(self, inner): self.inner, self.kind, self.mode = inner, inner.kind, inner.mode
    def identity(self): return self.inner.identity()
    def generate(self, requests):
        out = []
        for r in requests:
            self.inner.reset(); out += self.inner.generate([r])
        return out


def bare_loop(llm, requests):
    t0 = time.perf_counter()
    outs = []
    for r in requests:
        kw = dict(max_tokens=r.max_tokens, temperature=r.temperature, top_p=r.top_p, top_k=r.top_k,
                  repeat_penalty=r.repeat_penalty, stop=list(r.stop), seed=r.seed)
        if r.is_chat: outs.append(llm.create_chat_completion(messages=r.messages, **kw)["choices"][0]["message"]["content"])
        else: outs.append(llm.create_completion(prompt=r.prompt, **kw)["choices"][0]["text"])
    return time.perf_counter() - t0, outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cot-n", type=int, default=20)
    ap.add_argument("--shots", type=int, default=5)
    a = ap.parse_args()

    t0 = time.perf_counter()
    eng = LlamaCppEngine("smollm2-135m-instruct", n_ctx=2048)
    startup = time.perf_counter() - t0
    print(f"one-time start-up (load SmolLM2 GGUF): {startup:.2f} s")

    # --- 1. runner vs bare loop ---
    cfg = parse_config({"name": "bench-runner", "dataset": "triviaqa", "n": a.n, "seed": 0, "method": {"name": "naive"},
                        "runner": {"cache": False, "resume": False}})
    method = methods.get("naive")()
    examples = load_dataset("triviaqa").sample(a.n, 0)
    ctx = Context(eng, generation=_generation(cfg, method))
    examples.sort(key=lambda e: method.first_request(e, ctx).text())        # the runner's order
    requests = [method.first_request(e, ctx) for e in examples]
    runner_engine = CachedEngine(eng, enabled=False)
    bare_t, run_t = [], []
    for i in range(a.repeats):
        eng.reset()
        t, bare_out = bare_loop(eng.llm, requests); bare_t.append(t)
        eng.reset()
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = run_experiment(cfg, engine=runner_engine, progress=False, store_dir=d)
            run_t.append(time.perf_counter() - t0)
        print(f"  repeat {i + 1}: bare {bare_t[-1]:.2f} s, runner {run_t[-1]:.2f} s (ratio {run_t[-1] / bare_t[-1]:.3f})")
    same = sum(r.raw_output == o for r, o in zip(sorted(res.records, key=lambda r: [e.id for e in examples].index(r.id)), bare_out))
    print(f"runner vs bare loop over {a.n} prompts: bare median {statistics.median(bare_t):.2f} s, runner median "
          f"{statistics.median(run_t):.2f} s, ratio {statistics.median(run_t) / statistics.median(bare_t):.3f} "
          f"(identical outputs: {same}/{a.n})")

    # --- 2. few-shot CoT: prefix reused vs recomputed ---
    cot_cfg = parse_config({"name": "bench-prefix", "dataset": "gsm8k", "n": a.cot_n, "seed": 0,
                            "method": {"name": "cot", "options": {"shots": a.shots}},
                            "generation": {"max_tokens": 128}, "runner": {"cache": False, "resume": False}})
    times = {}
    outs = {}
    for label, engine in (("reused", eng), ("recomputed", ResetEachCall(eng)), ("reused#2", eng)):
        eng.reset()
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            r = run_experiment(cot_cfg, engine=CachedEngine(engine, enabled=False), progress=False, store_dir=d)
            times[label] = time.perf_counter() - t0
            outs[label] = [x.raw_output for x in r.records]
            pt = sum(x.prompt_tokens for x in r.records) / len(r.records)
        print(f"  {label:10s}: {times[label]:.2f} s for {a.cot_n} items ({times[label] / a.cot_n:.2f} s/item, "
              f"{pt:.0f} prompt tokens/item)")
    reused = min(times["reused"], times["reused#2"])
    print(f"few-shot CoT ({a.shots}-shot) prefix reuse: recomputed / reused = {times['recomputed'] / reused:.2f}x "
          f"(identical outputs: {sum(x == y for x, y in zip(outs['reused'], outs['recomputed']))}/{a.cot_n})")


if __name__ == "__main__":
    main()
