"""How many sequences to decode at once, and whether llama.cpp's flash attention helps: the same few-shot CoT GSM8K prompts
decoded by `BatchedLlama.run` with each `--widths` value as `n_seq`, and with flash attention off and on (`--flash both`),
in rounds (`--rounds`) so that every setting sees the same machine.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_width.py [--n 48] [--widths 4,8,12,16] [--flash off|on|both]
        [--rounds 2] [--model smollm2-135m-instruct]

Prints, per run, wall time, generated tokens/s, llama_decode calls, milliseconds per decode call and prefill seconds; at
the end the median tokens/s of each setting and, with flash attention both ways, how many outputs the two agree on (flash
attention sums in another order, so greedy outputs can differ). The runner's `batch_size: auto` takes up to
`llmforge.engines.AUTO_PARALLEL` sequences; this is the measurement behind that number. Run it on an otherwise idle machine.
"""
import argparse, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
from llama_cpp import Llama
from llmforge.engines.llama_cpp import LlamaCppEngine, llama_loading
from llmforge.engines.batching import BatchedLlama
from _prompts import cot_requests

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=48)
p.add_argument("--widths", default="4,8,12,16")
p.add_argument("--flash", choices=("off", "on", "both"), default="off")
p.add_argument("--rounds", type=int, default=2)
p.add_argument("--model", default="smollm2-135m-instruct")
p.add_argument("--n-ctx", type=int, default=2048)
a = p.parse_args()

eng = LlamaCppEngine(a.model, n_ctx=a.n_ctx)
llms = {}
if a.flash in ("off", "both"): llms["off"] = eng.llm
if a.flash in ("on", "both"):
    with llama_loading(eng.path):
        llms["on"] = Llama(model_path=str(eng.path), n_ctx=a.n_ctx, n_threads=eng.n_threads, verbose=False, flash_attn=True)
reqs = cot_requests(eng, a.n)
widths = [int(w) for w in a.widths.split(",")]

speeds, outputs = {}, {}
for rnd in range(a.rounds):
    for fa, llm in llms.items():
        for w in (widths if rnd % 2 == 0 else widths[::-1]):
            bl = BatchedLlama(llm, n_seq=w)
            try:
                t = time.perf_counter(); out = bl.run(reqs); dt = time.perf_counter() - t
            finally: bl.close()
            st, gen = bl.stats, sum(o.completion_tokens for o in out)
            speeds.setdefault((fa, w), []).append(gen / dt)
            outputs.setdefault(fa, [o.text for o in out])
            print(f"flash {fa:3s} n_seq {w:2d}  {dt:6.1f} s  {gen / dt:5.1f} gen tok/s  llama_decode calls {st['steps']}  "
                  f"{1000 * st['decode_s'] / max(1, st['steps']):5.1f} ms/call  prefill {st['prefill_s']:.1f} s", flush=True)

print(f"-- median over {a.rounds} round(s), {len(reqs)} prompts, {os.cpu_count()} cores")
for (fa, w), v in speeds.items():
    print(f"flash {fa:3s} n_seq {w:2d}  {np.median(v):5.1f} gen tok/s  (each {', '.join(f'{x:.1f}' for x in v)})")
if len(outputs) == 2:
    same = sum(x == y for x, y in zip(outputs["off"], outputs["on"]))
    print(f"outputs identical with and without flash attention: {same}/{len(reqs)}")
