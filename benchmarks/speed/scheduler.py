"""Scheduler: does continuous batching from concurrent callers cost anything over feeding the decoder directly? The same
few-shot CoT GSM8K prompts decoded by `BatchedLlama.run` (every request queued up front, as batched_runs.py's raw ceiling
does) and by a `BatchScheduler` called from B threads, one request per call (as the runner's workers call the engine).

    python benchmarks/speed/scheduler.py [--n 40] [--batch 8] [--rounds 2] [--model smollm2-135m-instruct]

Each variant reports wall time, generated tokens/s, llama_decode calls, prefill and decode seconds and decode milliseconds
per call; the ratio is scheduled / direct, within each round; the facts say whether every run's outputs matched the first
run's.
"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer

bench = Bench(__doc__, rounds=2)
p = bench.parser
p.add_argument("--n", type=int, default=40)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--model", default="smollm2-135m-instruct")
a = bench.parse()

from concurrent.futures import ThreadPoolExecutor
from llmforge.engines.llama_cpp import LlamaCppEngine
from llmforge.engines.batching import BatchedLlama, BatchScheduler
from _prompts import cot_requests

eng = LlamaCppEngine(a.model, n_ctx=2048)
reqs = cot_requests(eng, a.n)


def direct(bl):
    return bl.run(reqs)


def scheduled(bl):
    sc = BatchScheduler(bl)
    try:
        with ThreadPoolExecutor(a.batch) as pool: return list(pool.map(lambda r: sc.generate([r])[0], reqs))
    finally: sc.close()


def variant(f):
    def run(rnd):
        bl = BatchedLlama(eng.llm, n_seq=a.batch)
        try:
            with timer() as t: out = f(bl)
            st = dict(bl.stats)
        finally: bl.close()
        gen = sum(o.completion_tokens for o in out)
        return dict(s=t.s, gen_tok_per_s=gen / t.s, decode_calls=st["steps"], prefill_s=st["prefill_s"], decode_s=st["decode_s"],
                    ms_per_call=1000 * st["decode_s"] / max(1, st["steps"]), _texts=[o.text for o in out])
    return run


c = bench.compare(f"{len(reqs)} CoT prompts, {a.batch} in flight", {"direct": variant(direct), "scheduled": variant(scheduled)},
                  ratio_of=("s", "gen_tok_per_s"))
runs = [row[v]["_texts"] for row in c.rounds for v in row["order"]]
bench.fact(same_outputs_in_every_run=all(t == runs[0] for t in runs))
bench.save()
