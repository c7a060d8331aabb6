"""Decode step cost: what one batched decode step costs in llama.cpp on this machine, by how the batch is laid out.

    python benchmarks/speed/decode_step.py [--batch 8] [--ctx 512] [--steps 20] [--threads 2] [--rounds 1]
        [--model smollm2-135m-instruct]

With a KV stream per sequence (`kv_unified=False`, the layout `BatchedLlama` uses) llama.cpp cuts a batch into
micro-batches of consecutive, increasing sequence ids, and each micro-batch is a forward pass over all the weights. Side by
side in one process, B sequences that each hold `ctx` cells decode one token each per step:

- `1 seq`: one sequence alone (the sequential baseline per token);
- `in order`: sequence ids 0..B-1, listed in order (one micro-batch);
- `gaps`: ids 0, 2, 4, ... (every other stream idle: B micro-batches);
- `reversed`: ids 0..B-1 listed from the highest (B micro-batches);
- `unified`: one shared pool of cells (`kv_unified=True`), ids in order.

Each variant reports the median step time over `steps` steps (the first two left out), the time per token and the
aggregate tokens/s; ratios are each layout's tokens/s over `1 seq`'s, within each round.
"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench

bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("--batch", type=int, default=8)
p.add_argument("--ctx", type=int, default=512)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--model", default="smollm2-135m-instruct")
a = bench.parse()
if a.steps < 3: bench.parser.error("--steps must be >= 3 (the first two steps are left out)")

import numpy as np
import llama_cpp
from llmforge.models.registry import resolve_model
from llmforge.engines.llama_cpp import llama_loading

path = str(resolve_model(a.model).path())
with llama_loading(path):
    llm = llama_cpp.Llama(path, n_ctx=a.ctx + 256, n_threads=a.threads, verbose=False)


def step_time(ids: list[int], n_streams: int, unified: bool = False, order=None) -> float:
    "Median wall time of one decode step of one token for each sequence in `ids`, each holding `a.ctx` cells already."
    cp = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    cells = -(-(a.ctx + a.steps + 32) // 256) * 256          # whole 256-cell pages
    cp.n_ctx = cells * (len(ids) if unified else n_streams)
    cp.n_batch = cp.n_ubatch = 512
    cp.n_seq_max, cp.kv_unified = n_streams, unified
    cp.n_threads = cp.n_threads_batch = a.threads
    ctx = llama_cpp.llama_init_from_model(llm.model, cp)
    batch = llama_cpp.llama_batch_init(512, 0, n_streams)
    rng = np.random.default_rng(0)
    def decode(items):                                   # items: (token, position, sequence id, logits)
        for n, (tok, pos, sid, lg) in enumerate(items):
            batch.token[n], batch.pos[n], batch.n_seq_id[n], batch.logits[n] = tok, pos, 1, lg
            batch.seq_id[n][0] = sid
        batch.n_tokens = len(items)
        t0 = time.perf_counter()
        if llama_cpp.llama_decode(ctx, batch) != 0: raise RuntimeError("llama_decode failed")
        return time.perf_counter() - t0
    try:
        for sid in ids:                                  # fill each sequence's cells (prompt processing, not timed)
            toks = rng.integers(100, llm.n_vocab() - 100, a.ctx)
            for c0 in range(0, a.ctx, 512):
                decode([(int(toks[i]), i, sid, i == a.ctx - 1) for i in range(c0, min(a.ctx, c0 + 512))])
        listed = ids if order is None else order
        times = [decode([(1000 + k, a.ctx + k, sid, True) for sid in listed]) for k in range(a.steps)]
    finally:
        llama_cpp.llama_batch_free(batch); llama_cpp.llama_free(ctx)
    return float(np.median(times[2:]))


B = a.batch
cases = {"1 seq": ([0], 1, False, None),
         "in order": (list(range(B)), B, False, None),
         "gaps": ([2 * i for i in range(B)], 2 * B, False, None),
         "reversed": (list(range(B)), B, False, list(range(B - 1, -1, -1))),
         "unified": (list(range(B)), B, True, None)}


def layout(name):
    args, n = cases[name], len(cases[name][0])
    def f(rnd):
        t = step_time(*args)
        return dict(step_ms=1000 * t, ms_per_token=1000 * t / n, tok_per_s=n / t)
    return f


bench.log(f"{B} sequences x {a.ctx} cells, {a.threads} threads, {a.model}")
bench.compare(f"decode step, {B} sequences x {a.ctx} cells", {name: layout(name) for name in cases}, ratio_of=("tok_per_s",),
              show=("step_ms", "ms_per_token", "tok_per_s"))
bench.save()
