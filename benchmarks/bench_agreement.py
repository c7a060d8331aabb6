"""Why batched greedy answers can differ from sequential ones: the same few-shot CoT prompts (GSM8K) decoded greedily by
llama.cpp in several ways that are mathematically identical and differ only in how the floating-point work is split.

    LLMFORGE_DATA_DIR=../shared/data python benchmarks/bench_agreement.py [--n 40] [--batch 8] [--max-tokens 256]

Variants, each compared with the reference (`Llama` from an empty KV cache, the prompt evaluated in one 512-token batch,
then one token per step):

- `chunk32`: sequential, the prompt evaluated in 32-token chunks (n_batch 32) instead of one batch;
- `reuse`: sequential through `LlamaCppEngine`, prompts in sorted order so each reuses the previous one's KV prefix;
- `batched1`: `BatchedLlama` with one sequence at a time and no cached prefixes;
- `batchedB`: `BatchedLlama` with B sequences per step and prefix sharing (what `runner.batch_size: B` runs), each
  sequence in its own KV stream;
- `unifiedB`: the same over llama.cpp's unified KV cache, where the sequences' cells share one pool.

None of these changes the model or the greedy rule; at most they change the order of floating-point sums (how a prompt is
cut into chunks, where a sequence's cells lie among other sequences' cells that attention reduces over, whether a token is
alone of its sequence in a micro-batch, which llama.cpp computes by a matrix-vector rather than a tiled kernel). For each
variant it prints the share of outputs identical to the reference and, where they differ, the reference's gap between its
top two logits at the first differing token (small gaps: near-ties that rounding resolved the other way); for `batchedB`
also how many requests had every logit vector of every step bit-identical to the reference's; and the wall time of the
two batched layouts.
"""
import argparse, hashlib, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import llama_cpp
from llmforge.engines.llama_cpp import LlamaCppEngine, llama_loading
from llmforge.engines.batching import BatchedLlama, chat_formatter, prompt_tokens
from _prompts import cot_requests

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=40)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--max-tokens", type=int, default=256)
p.add_argument("--model", default="smollm2-135m-instruct")
a = p.parse_args()

eng = LlamaCppEngine(a.model, n_ctx=2048)
reqs = cot_requests(eng, a.n, max_tokens=a.max_tokens)
fmt = chat_formatter(eng.llm)


digest = lambda a: hashlib.sha1(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


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


def load(n_batch):
    with llama_loading(eng.path):
        return llama_cpp.Llama(model_path=str(eng.path), n_ctx=2048, n_batch=n_batch, n_ubatch=n_batch,
                               n_threads=eng.n_threads, verbose=False)


t = time.perf_counter()
ref_hashes: dict[tuple, list[str]] = {}      # prompt tokens -> digest of the reference logits at each generated token
ref = run_reference(eng.llm, ref_hashes)
print(f"{len(reqs)} prompts, reference decoded in {time.perf_counter() - t:.0f}s", flush=True)
variants = {}
variants["chunk32"] = [x[0] for x in run_reference(load(32))]
eng.llm.reset()
variants["reuse"] = [eng.generate([r])[0].text for r in reqs]
variants["batched1"] = [o.text for o in BatchedLlama(eng.llm, n_seq=1, n_cache=0).run(reqs)]
timing = {}
class Recording(BatchedLlama):
    "The batched decoder, keeping a digest of the logits each sequence samples from."
    def _sample(self, seq, idx):
        raw = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, idx), shape=(self.n_vocab,))
        hashes.setdefault(tuple(seq.prompt), []).append(digest(raw))
        return super()._sample(seq, idx)


hashes: dict[tuple, list[str]] = {}          # the same for the batched decoder
t = time.perf_counter()
variants[f"batched{a.batch}"] = [o.text for o in Recording(eng.llm, n_seq=a.batch).run(reqs)]
timing[f"batched{a.batch}"] = time.perf_counter() - t
bitwise = sum(hashes.get(k) == v for k, v in ref_hashes.items())


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


t = time.perf_counter()
variants[f"unified{a.batch}"] = [o.text for o in UnifiedBatchedLlama(eng.llm, a.batch).run(reqs)]
timing[f"unified{a.batch}"] = time.perf_counter() - t


def gap_at_divergence(ref_item, other: str) -> float:
    text, toks, gaps = ref_item
    i = next((k for k, (x, y) in enumerate(zip(text, other)) if x != y), min(len(text), len(other)))
    acc = 0
    for k, tok in enumerate(toks):                       # the generated token whose text covers character i
        acc += len(eng.llm.detokenize([tok]).decode("utf-8", errors="ignore"))
        if acc > i: return gaps[k]
    return gaps[min(len(toks), len(gaps) - 1)]


all_gaps = np.concatenate([g for _, _, g in ref])
print(f"reference: median top-2 logit gap over all {all_gaps.size} generated tokens {np.median(all_gaps):.2f}; "
      f"share of tokens with gap < 0.1: {np.mean(all_gaps < 0.1):.1%}")
for name, outs in variants.items():
    same = [o == r[0] for o, r in zip(outs, ref)]
    gaps = [gap_at_divergence(r, o) for o, r, s in zip(outs, ref, same) if not s]
    print(f"{name:10s} identical to reference {np.mean(same):6.1%} ({sum(same)}/{len(same)})"
          + (f"; top-2 gap at first difference: median {np.median(gaps):.3f}, max {np.max(gaps):.3f}" if gaps else ""),
          flush=True)
print(f"batched{a.batch}: every logit of every step bit-identical to the reference for {bitwise}/{len(ref_hashes)} requests")
print("wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timing.items()))
