"""Does continuous batching from concurrent callers cost anything over feeding the decoder directly? The same few-shot CoT
GSM8K prompts decoded by `BatchedLlama.run` (every request queued up front, as bench_speed's raw ceiling does) and by a
`BatchScheduler` called from B threads, one request per call (as the runner's workers call the engine), alternating
`--rounds` times in one process so that both see the same machine.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_scheduler.py [--n 40] [--batch 8] [--rounds 2]

Prints wall time, generated tokens/s, llama_decode calls, prefill and decode seconds and decode milliseconds per call for
each run, and whether every output matched the first run's.
"""
import argparse, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from concurrent.futures import ThreadPoolExecutor
from llmforge.engines.llama_cpp import LlamaCppEngine
from llmforge.engines.batching import BatchedLlama, BatchScheduler
from _prompts import cot_requests

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=40)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--rounds", type=int, default=2)
p.add_argument("--model", default="smollm2-135m-instruct")
a = p.parse_args()

eng = LlamaCppEngine(a.model, n_ctx=2048)
reqs = cot_requests(eng, a.n)

def direct(bl):
    return bl.run(reqs)

def scheduled(bl):
    sc = BatchScheduler(bl)
    try:
        with ThreadPoolExecutor(a.batch) as pool: return list(pool.map(lambda r: sc.generate([r])[0], reqs))
    finally: sc.close()

first = None
for _ in range(a.rounds):
    for name, f in (("direct", direct), ("scheduled", scheduled)):
        bl = BatchedLlama(eng.llm, n_seq=a.batch)
        t = time.perf_counter(); out = f(bl); dt = time.perf_counter() - t
        st = dict(bl.stats); bl.close()
        first = first or [o.text for o in out]
        gen = sum(o.completion_tokens for o in out)
        print(f"{name:9s} {dt:6.1f} s  {gen / dt:5.1f} gen tok/s  llama_decode calls {st['steps']}  prefill {st['prefill_s']:.1f} s  "
              f"decode {st['decode_s']:.1f} s ({1000 * st['decode_s'] / max(1, st['steps']):.1f} ms/call)  "
              f"same outputs as the first run: {[o.text for o in out] == first}", flush=True)
