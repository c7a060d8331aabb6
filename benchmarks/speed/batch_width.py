"""Batch width: how many sequences to decode at once, and whether llama.cpp's flash attention helps: the same few-shot CoT
GSM8K prompts decoded by `BatchedLlama.run` with each `--widths` value as `n_seq`, with flash attention off and/or on.

    python benchmarks/speed/batch_width.py [--n 48] [--widths 4,8,12,16] [--flash off|on|both] [--rounds 2]
        [--model smollm2-135m-instruct] [--n-ctx 2048]

Each variant (flash attention x width) reports wall time, generated tokens/s, llama_decode calls, milliseconds per decode
call and prefill seconds; ratios are each variant's tokens/s over the first variant's, within each round. With flash
attention both ways, the facts say how many outputs the two agree on (flash attention sums in another order, so greedy
outputs can differ). The runner's `batch_size: auto` takes up to `llmforge.engines.llama_cpp.AUTO_PARALLEL` sequences;
this is the measurement behind that number.
"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer

bench = Bench(__doc__, rounds=2)
p = bench.parser
p.add_argument("--n", type=int, default=48)
p.add_argument("--widths", default="4,8,12,16")
p.add_argument("--flash", choices=("off", "on", "both"), default="off")
p.add_argument("--model", default="smollm2-135m-instruct")
p.add_argument("--n-ctx", type=int, default=2048)
a = bench.parse()

from llama_cpp import Llama
from llmforge.engines.llama_cpp import LlamaCppEngine, llama_loading
from llmforge.engines.batching import BatchedLlama
from _prompts import cot_requests

eng = LlamaCppEngine(a.model, n_ctx=a.n_ctx)
llms = {}
if a.flash in ("off", "both"): llms["off"] = eng.llm
if a.flash in ("on", "both"):
    with llama_loading(eng.path):
        llms["on"] = Llama(model_path=str(eng.path), n_ctx=a.n_ctx, n_threads=eng.n_threads, verbose=False, flash_attn=True)
reqs = cot_requests(eng, a.n)
widths = [int(w) for w in a.widths.split(",")]


def decode(llm, w):
    def f(rnd):
        bl = BatchedLlama(llm, n_seq=w)
        try:
            with timer() as t: out = bl.run(reqs)
        finally: bl.close()
        st, gen = bl.stats, sum(o.completion_tokens for o in out)
        return dict(s=t.s, gen_tok_per_s=gen / t.s, decode_calls=st["steps"], ms_per_call=1000 * st["decode_s"] / max(1, st["steps"]),
                    prefill_s=st["prefill_s"], _texts=[o.text for o in out])
    return f


c = bench.compare(f"{len(reqs)} CoT prompts by width", {f"flash {fa} n_seq {w}": decode(llm, w) for fa, llm in llms.items() for w in widths},
                  ratio_of=("gen_tok_per_s",))
if len(llms) == 2:
    same = [sum(x == y for x, y in zip(row[f"flash off n_seq {w}"]["_texts"], row[f"flash on n_seq {w}"]["_texts"]))
            for row in c.rounds for w in widths]
    bench.fact(identical_with_and_without_flash_attention=f"{min(same)}/{len(reqs)} (fewest over widths and rounds)")
bench.save()
