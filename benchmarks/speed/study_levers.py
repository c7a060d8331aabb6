"""The speed levers of a study, each measured alone on the study's own prompts: arms in flight together in one decoder,
sequences in flight, prompt-lookup decoding (its exact acceptance on the greedy outputs, priced with the measured cost of
a decode step), llama.cpp's repacked weights, and threads.

    python benchmarks/speed/study_levers.py [--study params/study_gsm8k.yaml] [--n 30] [--rounds 2]
        [--lookup-study params/rag_hotpotqa.yaml] [--lookup-n 10]

Everything runs in this process on llama-cpp-python with the model loaded once per setting; the prompts are each arm's
first requests exactly as LlmForge builds them (chat messages rendered by the GGUF's template), greedy, the arm's
max_tokens and stop strings. Outputs are compared text for text between variants.

- **Arms in flight together**: LlmForge's batched decoder (`BatchedLlama`, 8 sequences in flight) given each arm's
  prompts in turn (the arms one after another, each draining its last sequences alone), against all arms' prompts at
  once (three arms' sequences filling the same slots).
- **Sequences in flight**: all arms at once with 8 against 16 sequences in flight.
- **Prompt-lookup decoding** (draft tokens copied from the prompt where its last n-gram occurred, verified by the model in
  the same step): with greedy decoding a draft token is accepted exactly when it equals the token the model outputs, so
  the acceptance is computed exactly from the outputs above without running the drafts. What a step with T tokens per
  sequence costs is measured (`llama_decode` of S sequences x T tokens, S 1 and 8); the predicted speed-up of K drafts is
  (1 + accepted drafts per step) x cost(S, 1) / cost(S, 1 + K). Also on a RAG study's prompts (`--lookup-study`), where
  answers copy from the retrieved passages.
- **Requantized weights** (the llama.cpp engine's `requantize` option): the shipped GGUF against the same weights
  requantized by llama.cpp to Q8_0 and Q4_0: prompt evaluation speed, all arms decoded together, and how many greedy
  outputs stay identical and how accuracy moves (answers read by the runner's default parser and scored by its scorers).
- **Repacked weights** (llama.cpp's extra CPU buffer types, `use_extra_bufts`): for each registered model, prompt
  evaluation (512 tokens) and single-sequence decoding with and without, and whether greedy outputs agree. On CPUs that
  report AMX, LlmForge's probe decides (`llama_extra_buffers_ok`); this machine's answer is in the facts.
- **Threads**: the cost table above at 1 and 2 threads.
"""
from __future__ import annotations
import statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "comparison" / "lmeval"))
from harness import Bench, REPO

bench = Bench(__doc__, rounds=2)
p = bench.parser
p.add_argument("--study", default=str(REPO / "params" / "study_gsm8k.yaml"))
p.add_argument("--n", type=int, default=30, help="items per arm (default 30)")
p.add_argument("--lookup-study", default=str(REPO / "params" / "rag_hotpotqa.yaml"), help="a second study for prompt lookup ('' skips it)")
p.add_argument("--lookup-n", type=int, default=10, help="items per arm of the lookup study (default 10)")
p.add_argument("--lookup-arms", default="bm25", help="arms of the lookup study, comma-separated (default bm25; '' for all)")
p.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: what LlmForge's engine uses)")
a = bench.parse()

import numpy as np
import llama_cpp
from llama_cpp import Llama
from support import chat_renderer
from llmforge.core.types import Context, GenerationRequest
from llmforge.engines.batching import BatchedLlama
from llmforge.engines.llama_cpp import _n_cpus, llama_extra_buffers_ok, llama_loading, llama_model_params
from llmforge.engines.mock import MockEngine
from llmforge.methods.prompting import methods
from llmforge.data.datasets import load_dataset
from llmforge.models.registry import models as registered, resolve_model
from llmforge.pipeline.config import load_study
from llmforge.pipeline.runner import _generation
from llmforge.core.types import Prediction
from llmforge.eval.scoring import score_example
from llmforge.methods.prompting import extract_answer

THREADS = a.threads or _n_cpus()


def study_requests(path: str, n: int, arms: str = "") -> tuple[object, dict[str, list[GenerationRequest]]]:
    """A study's arms (all, or those named) as completion requests (chat rendered by the GGUF's template), greedy, sorted
    as the runner sorts them."""
    study = load_study(path, {"n": n})
    if arms: study.arms = {k: v for k, v in study.arms.items() if k in arms.split(",")}
    spec = resolve_model(next(iter(study.arms.values())).model)
    render = chat_renderer(spec.path(), spec.mode)[0]
    out = {}
    for k, cfg in study.arms.items():
        m = methods.get(cfg.method.name)(**cfg.method.options)
        ctx = Context(MockEngine(mode=spec.mode), generation=_generation(cfg, m))
        exs = load_dataset(cfg.dataset).sample(cfg.n, cfg.seed)
        reqs = [m.first_request(e, ctx) for e in exs]
        reqs = [GenerationRequest(prompt=r.prompt if r.prompt is not None else render(r.messages), max_tokens=r.max_tokens,
                                  temperature=0.0, stop=tuple(r.stop) + (("<|im_end|>",) if r.is_chat else ()))
                for r in reqs]
        order = sorted(range(len(reqs)), key=lambda i: reqs[i].prompt)
        out[k] = [reqs[i] for i in order]
        EXAMPLES.update({reqs[i].prompt: exs[i] for i in order})
    return spec, out

EXAMPLES = {}    # prompt -> its example (to score outputs)

def load(spec, extra: bool | None = None, threads: int = THREADS) -> Llama:
    path = str(spec.path())
    if extra is None:
        with llama_loading(path): return Llama(model_path=path, n_ctx=2048, n_threads=threads, seed=0, verbose=False)
    with llama_model_params(use_extra_bufts=extra):
        return Llama(model_path=path, n_ctx=2048, n_threads=threads, seed=0, verbose=False)


SPEC, ARMS = study_requests(a.study, a.n)
LLM = load(SPEC)
ALL = [r for rs in ARMS.values() for r in rs]
bench.fact(study=a.study, n=a.n, model=SPEC.name, threads=THREADS, prompts={k: len(v) for k, v in ARMS.items()},
           extra_buffers_on_this_machine=llama_extra_buffers_ok(SPEC.path()))

def decode(reqs, n_seq: int) -> tuple[float, list[str], dict]:
    dec = BatchedLlama(LLM, n_seq=n_seq, n_threads=THREADS)
    t = time.perf_counter(); res = dec.run(reqs); s = time.perf_counter() - t
    stats = dict(dec.stats); dec.close()
    return s, [r.text for r in res], stats

def per_arm(rnd):
    s, texts = 0.0, []
    for reqs in ARMS.values():
        x, t, _ = decode(reqs, 8); s += x; texts += t
    return {"s": s, "_texts": texts}

def together(n_seq):
    def f(rnd):
        s, texts, st = decode(ALL, n_seq)
        return {"s": s, "_texts": texts, "prefill_s": st["prefill_s"], "decode_s": st["decode_s"]}
    return f

c1 = bench.comparison("arms in flight together (8 sequences)", {"arms one after another": per_arm, "arms together": together(8)},
                      ratios=[("arms one after another", "arms together")], ratio_of=("s",))
c2 = bench.comparison("sequences in flight (arms together)", {"8": together(8), "16": together(16)},
                      ratios=[("8", "16")], ratio_of=("s",))
bench.run(c1, c2)
ref = c1.rounds[0]["arms one after another"]["_texts"]
bench.fact(identical_outputs={f"{c.title}: {v}": f"{min(sum(x == y for x, y in zip(row[v]['_texts'], ref)) for row in c.rounds)}/{len(ref)}"
                              for c in (c1, c2) for v in c.variants})


# ---------------------------------------------------------------- what a decode step costs, by sequences x tokens

def step_costs(llm: Llama, threads: int, S_list=(1, 8), T_list=(1, 2, 3, 4, 5), reps: int = 10) -> dict:
    "Median seconds of one `llama_decode` of S sequences x T tokens each, every sequence holding 400 cells."
    d = BatchedLlama(llm, n_seq=max(S_list), n_cache=0, n_threads=threads)
    toks = llm.tokenize(ALL[0].prompt.encode(), special=True)
    toks = (toks * (400 // len(toks) + 1))[:400]
    for i in range(0, 400, 200): d._decode([(toks[j], j, 0, False) for j in range(i, i + 200)], "prefill_s")
    for s in range(1, max(S_list)): llama_cpp.llama_memory_seq_cp(d.mem, 0, s, -1, -1)
    out = {}
    for S in S_list:
        for T in T_list:
            ts = []
            for _ in range(reps):
                items = [(toks[k], 400 + k, s, True) for s in range(S) for k in range(T)]
                t = time.perf_counter(); d._decode(items, "decode_s"); ts.append(time.perf_counter() - t)
                for s in range(S): llama_cpp.llama_memory_seq_rm(d.mem, s, 400, -1)
            out[(S, T)] = statistics.median(ts[2:])
    d.close()
    return out

COST = {}
for th in sorted({1, THREADS}):
    llm = LLM if th == THREADS else load(SPEC, threads=th)
    COST[th] = step_costs(llm, th)
    if llm is not LLM: llm.close()
bench.table("decode step cost (ms) by sequences x tokens per sequence", [
    {"threads": th, "sequences": S, **{f"T={T}": round(c[(S, T)] * 1000, 1) for (S2, T) in c if S2 == S},
     "tok/s at T=1": round(S / c[(S, 1)])} for th, c in COST.items() for S in sorted({S for S, _ in c})])


# ---------------------------------------------------------------- prompt lookup: exact acceptance from greedy outputs

def lookup_steps(prompt: list[int], out: list[int], K: int, max_ngram: int = 3) -> int:
    """Decode steps prompt-lookup decoding with K drafts needs to produce `out` (greedy): at each step the drafts are
    the K tokens that followed the latest earlier occurrence of the longest n-gram (n <= max_ngram) ending the context;
    the step yields 1 + the drafts that equal the next output tokens."""
    seq, P = prompt + out, len(prompt)
    last = {n: {} for n in range(1, max_ngram + 1)}      # n-gram -> latest start, every start before the context's tail
    nxt = {n: 0 for n in last}
    steps, i = 0, 0
    while i < len(out):
        L, draft = P + i, []
        for n in range(max_ngram, 0, -1):
            while nxt[n] < L - n: last[n][tuple(seq[nxt[n]:nxt[n] + n])] = nxt[n]; nxt[n] += 1
            j = last[n].get(tuple(seq[L - n:L])) if L - n >= 0 else None
            if j is not None: draft = seq[j + n:min(j + n + K, L)]; break
        acc = 0
        while acc < len(draft) and i + acc < len(out) and draft[acc] == out[i + acc]: acc += 1
        i += 1 + acc; steps += 1
    return steps

def lookup_table(label: str, reqs: list[GenerationRequest], texts: list[str]) -> list[dict]:
    rows, c = [], COST[THREADS]
    pt = [LLM.tokenize(r.prompt.encode(), special=True) for r in reqs]
    ot = [LLM.tokenize(t.encode(), add_bos=False, special=False) if t else [] for t in texts]
    n_out = sum(map(len, ot))
    for K in (1, 2, 3, 4):
        steps = sum(lookup_steps(p_, o, K) for p_, o in zip(pt, ot))
        per_step = n_out / max(steps, 1)
        row = {"prompts": label, "K drafts": K, "output tokens": n_out, "tokens per step": round(per_step, 3)}
        for S in (1, 8):
            row[f"predicted speed-up, {S} seq"] = round(per_step * c[(S, 1)] / c[(S, 1 + K)], 3)
        rows.append(row)
    return rows

rows = lookup_table(Path(a.study).stem, ALL, ref)
if a.lookup_study:
    spec2, arms2 = study_requests(a.lookup_study, a.lookup_n, a.lookup_arms)
    if spec2.name == SPEC.name:
        reqs2 = [r for rs in arms2.values() for r in rs]
        _, texts2, _ = decode(reqs2, 8)
        rows += lookup_table(Path(a.lookup_study).stem, reqs2, texts2)
bench.table("prompt-lookup decoding: exact acceptance on greedy outputs, priced by the step costs", rows)


# ---------------------------------------------------------------- requantized weights (engine option requantize)

def correct(req, text: str) -> bool:
    ex = EXAMPLES[req.prompt]
    return bool(score_example(ex, Prediction(answer=extract_answer(text, ex.task, ex.choices), raw_output=text))[1])

def requantized_rows() -> list[dict]:
    from llmforge.engines.llama_cpp import requantized_gguf
    global LLM
    LLM.close()
    rows, base = [], None
    for kind in (None, "q8_0", "q4_0"):
        path = SPEC.path() if kind is None else requantized_gguf(SPEC.path(), kind)
        with llama_loading(path):
            LLM = Llama(model_path=str(path), n_ctx=2048, n_threads=THREADS, seed=0, verbose=False)
        toks = LLM.tokenize(ALL[-1].prompt.encode(), special=True)
        toks = (toks * (512 // len(toks) + 1))[:512]
        t = time.perf_counter(); LLM.eval(toks); pp = time.perf_counter() - t; LLM.reset()
        s, texts, st = decode(ALL, 8)
        LLM.close()
        acc = sum(correct(r, x) for r, x in zip(ALL, texts)) / len(ALL)
        if base is None: base = dict(s=s, texts=texts, pp=pp, acc=acc)
        rows.append({"weights": kind or f"shipped ({Path(SPEC.path()).name})", "size MB": round(Path(path).stat().st_size / 1e6, 1),
                     "prefill tok/s (512)": round(512 / pp), "all arms decoded, s": round(s, 1),
                     "speed-up": round(base["s"] / s, 3), "prefill speed-up": round(base["pp"] / pp, 3),
                     "identical outputs": f"{sum(x == y for x, y in zip(texts, base['texts']))}/{len(ALL)}",
                     "accuracy (default parser)": round(acc, 3), "accuracy change": round(acc - base["acc"], 3)})
    return rows

bench.table("requantized weights (engine.options.requantize), all arms in flight", requantized_rows())


# ---------------------------------------------------------------- repacked weights, per registered model

def extra_bufts(name: str) -> dict:
    spec = resolve_model(name)
    res = {}
    for extra in (True, False, True, False):
        llm = load(spec, extra)
        toks = llm.tokenize(ALL[-1].prompt.encode(), special=True)
        toks = (toks * (512 // len(toks) + 1))[:512]
        t = time.perf_counter(); llm.eval(toks); pp = time.perf_counter() - t
        llm.reset()
        t = time.perf_counter()
        out = llm.create_completion(prompt=ALL[0].prompt, max_tokens=64, temperature=0.0, top_k=40, top_p=1.0, min_p=0.0,
                                    repeat_penalty=1.0)
        dt = time.perf_counter() - t
        key = "on" if extra else "off"
        r = res.setdefault(key, {"prefill_tok_s": [], "decode_s": [], "text": out["choices"][0]["text"],
                                 "completion_tokens": out["usage"]["completion_tokens"]})
        r["prefill_tok_s"].append(512 / pp); r["decode_s"].append(dt)
        llm.close()
    ft = load_type(spec)
    row = {"model": name, "file type": FILE_TYPES.get(ft, str(ft))}
    for k in ("on", "off"):
        row[f"prefill tok/s, repack {k}"] = round(float(np.median(res[k]["prefill_tok_s"])))
        row[f"64-token completion s, repack {k}"] = round(float(np.median(res[k]["decode_s"])), 2)
    row["prefill on / off"] = round(row["prefill tok/s, repack on"] / row["prefill tok/s, repack off"], 3)
    row["same greedy output"] = res["on"]["text"] == res["off"]["text"]
    return row

FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 15: "Q4_K_M", 17: "Q5_K_M", 18: "Q6_K"}

def load_type(spec) -> int:
    llm = Llama(model_path=str(spec.path()), vocab_only=True, verbose=False)
    return int(llm.metadata.get("general.file_type", -1))

bench.table("repacked weights (llama.cpp extra buffer types), per registered model", [extra_bufts(m) for m in registered.names()])
bench.save()
