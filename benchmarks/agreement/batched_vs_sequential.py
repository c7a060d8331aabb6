"""Batched vs sequential outputs: why batched greedy answers can differ from sequential ones. The same few-shot CoT prompts
(GSM8K) decoded greedily by llama.cpp in several ways that are mathematically identical and differ only in how the
floating-point work is split; each variant's share of outputs identical to the reference.

    python benchmarks/agreement/batched_vs_sequential.py [--n 40] [--batch 8] [--max-tokens 256] [--rounds 1]
        [--model smollm2-135m-instruct]

Variants, each compared with the reference (`Llama` from an empty KV cache, the prompt evaluated in one 512-token batch,
then one token per step) decoded in the same round:

- `chunk32`: sequential, the prompt evaluated in 32-token chunks (n_batch 32) instead of one batch;
- `reuse`: sequential through `LlamaCppEngine`, prompts in sorted order so each reuses the previous one's KV prefix;
- `batched1`: `BatchedLlama` with one sequence at a time and no cached prefixes;
- `batchedB`: `BatchedLlama` with B sequences per step and prefix sharing (what `runner.batch_size: B` runs), each
  sequence in its own KV stream;
- `unifiedB`: the same over llama.cpp's unified KV cache, where the sequences' cells share one pool.

None of these changes the model or the greedy rule; at most they change the order of floating-point sums (how a prompt is
cut into chunks, where a sequence's cells lie among other sequences' cells that attention reduces over, whether a token is
alone of its sequence in a micro-batch, which llama.cpp computes by a matrix-vector rather than a tiled kernel). Each
variant reports the share of outputs identical to the reference (`identical_share`) and, where they differ, the
reference's gap between its top two logits at the first differing token (`gap_median`, `gap_max`; small gaps: near-ties
that rounding resolved the other way); `batchedB` also how many requests had every logit vector of every step
bit-identical to the reference's (`bitwise_identical`). Every variant's wall time is `s`; the ratio is unifiedB /
batchedB wall time.
"""
import hashlib, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench

bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("--n", type=int, default=40)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--max-tokens", type=int, default=256)
p.add_argument("--model", default="smollm2-135m-instruct")
a = bench.parse()

import numpy as np
import llama_cpp
from llmforge.engines.llama_cpp import LlamaCppEngine, llama_loading
from llmforge.engines.batching import BatchedLlama, chat_formatter, prompt_tokens
from _prompts import cot_requests

eng = LlamaCppEngine(a.model, n_ctx=2048)
reqs = cot_requests(eng, a.n, max_tokens=a.max_tokens)
fmt = chat_formatter(eng.llm)
digest = lambda x: hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


def greedy(llm, toks, stop, max_tokens, record=None):
    "Reference greedy loop on a `Llama`: returns the text and, per generated token, the gap between the top two logits."
    llm.reset(); llm.eval(toks)
    out, text, gaps = [], b"", []
    for _ in range(max_tokens):
        raw = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
        if record is not None: record.setdefault(tuple(toks), []).append(digest(raw))
        logits = raw.astype(np.float64)
        top2 = np.partition(logits, -2)[-2:]
        tok = int(np.argmax(logits)); gaps.append(float(top2[1] - top2[0]))
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok): break
        out.append(tok); text += llm.detokenize([tok])
        s = text.decode("utf-8", errors="ignore")
        if any(x and x in s for x in stop): break
        llm.eval([tok])
    s = text.decode("utf-8", errors="ignore")
    cut = [s.find(x) for x in stop if x and x in s]
    return (s[:min(cut)] if cut else s), out, gaps


def run_reference(llm, record=None):
    res = []
    for r in reqs:
        toks, extra = prompt_tokens(llm, r, fmt)
        res.append(greedy(llm, toks, list(r.stop) + extra, r.max_tokens, record))
    return res


class Recording(BatchedLlama):
    "The batched decoder, keeping a digest of the logits each sequence samples from."
    def __init__(self, *args, **kw):
        self.hashes: dict[tuple, list[str]] = {}
        super().__init__(*args, **kw)
    def _sample(self, seq, idx):
        raw = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, idx), shape=(self.n_vocab,))
        self.hashes.setdefault(tuple(seq.prompt), []).append(digest(raw))
        return super()._sample(seq, idx)


class UnifiedBatchedLlama(BatchedLlama):
    """The same decoder over llama.cpp's unified KV cache (one pool of cells for all sequences, the layout LlmForge does not
    use): prefix sharing is a metadata copy, and the pool is sized so that it never runs out here."""
    def __init__(self, llm, n_seq):
        real = llama_cpp.llama_init_from_model
        def unified(model, cp):
            cp.kv_unified = True; cp.n_ctx = llm.n_ctx() * 4 * n_seq
            return real(model, cp)
        llama_cpp.llama_init_from_model = unified
        try: super().__init__(llm, n_seq=n_seq)
        finally: llama_cpp.llama_init_from_model = real
        self.seq_cells = llm.n_ctx()


with llama_loading(eng.path):
    llm32 = llama_cpp.Llama(model_path=str(eng.path), n_ctx=2048, n_batch=32, n_ubatch=32, n_threads=eng.n_threads, verbose=False)


def reference(rnd):
    hashes: dict[tuple, list[str]] = {}      # prompt tokens -> digest of the reference logits at each generated token
    ref = run_reference(eng.llm, hashes)
    return {"_ref": ref, "_outputs": [x[0] for x in ref], "_hashes": hashes}


def reuse(rnd):
    eng.llm.reset()
    return {"_outputs": [eng.generate([r])[0].text for r in reqs]}


def batched(make, record=False):
    def f(rnd):
        bl = make()
        try: out = {"_outputs": [o.text for o in bl.run(reqs)]}
        finally: bl.close()
        if record: out["_hashes"] = bl.hashes
        return out
    return f


B = a.batch
variants = {"reference": reference,
            "chunk32": lambda rnd: {"_outputs": [x[0] for x in run_reference(llm32)]},
            "reuse": reuse,
            "batched1": batched(lambda: BatchedLlama(eng.llm, n_seq=1, n_cache=0)),
            f"batched{B}": batched(lambda: Recording(eng.llm, n_seq=B), record=True),
            f"unified{B}": batched(lambda: UnifiedBatchedLlama(eng.llm, B))}
c = bench.compare(f"{len(reqs)} CoT prompts, greedy", variants, ratios=[(f"unified{B}", f"batched{B}")], ratio_of=("s",), show=("s",))


def gap_at_divergence(ref_item, other: str) -> float:
    text, toks, gaps = ref_item
    i = next((k for k, (x, y) in enumerate(zip(text, other)) if x != y), min(len(text), len(other)))
    acc = 0
    for k, tok in enumerate(toks):                       # the generated token whose text covers character i
        acc += len(eng.llm.detokenize([tok]).decode("utf-8", errors="ignore"))
        if acc > i: return gaps[k]
    return gaps[min(len(toks), len(gaps) - 1)]


for row in c.rounds:                                     # agreement with the same round's reference
    ref = row["reference"]["_ref"]
    for name in variants:
        if name == "reference": continue
        same = [o == r[0] for o, r in zip(row[name]["_outputs"], ref)]
        gaps = [gap_at_divergence(r, o) for o, r, s in zip(row[name]["_outputs"], ref, same) if not s]
        row[name].update(identical=sum(same), identical_share=float(np.mean(same)))
        if gaps: row[name].update(gap_median=float(np.median(gaps)), gap_max=float(np.max(gaps)))
    ref_hashes = row["reference"]["_hashes"]
    row[f"batched{B}"]["bitwise_identical"] = sum(row[f"batched{B}"]["_hashes"].get(k) == v for k, v in ref_hashes.items())
    bench.log(f"round {row['round']}: identical to reference: "
              + ", ".join(f"{n} {row[n]['identical']}/{len(ref)}" for n in variants if n != "reference")
              + f"; batched{B} every logit bit-identical for {row[f'batched{B}']['bitwise_identical']}/{len(ref_hashes)} requests")
all_gaps = np.concatenate([g for _, _, g in c.rounds[0]["reference"]["_ref"]])
bench.fact(prompts=len(reqs), reference_generated_tokens=int(all_gaps.size),
           reference_median_top2_gap=round(float(np.median(all_gaps)), 3),
           reference_share_of_tokens_with_gap_below_0_1=round(float(np.mean(all_gaps < 0.1)), 4))
bench.save()
