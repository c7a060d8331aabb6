"""What a RAG study's prompt evaluation costs, and each lever on it alone: the prompt cache in host memory across arms,
the batch size of a prompt-evaluation call, and flash attention; with the prompt tokens each way evaluates against the
least any way can (the prefix-trie count of all the study's prompts).

    python benchmarks/speed/rag_prefill.py [--study params/rag_hotpotqa.yaml] [--n 10] [--rounds 1]

The prompts are each arm's first requests exactly as LlmForge builds them (retrieval done here, untimed; chat messages
rendered by the GGUF's template), greedy, the arm's max_tokens and stop strings, each arm's prompts sorted as the runner
sorts them. Every variant runs the arms one after another, as `llmforge run` of the study does, through LlmForge's
batched decoder (`BatchedLlama`, 8 sequences in flight, a new decoder per arm as a new run gets), on the model loaded once:

- **prompt cache**: without a `PromptCache` (each arm reuses prefixes only among its own recent sequences) against one
  shared by the arms' decoders (what the llama.cpp engine keeps across a study's arms).
- **n_batch** 512 (LlmForge's) against 1024 and 2048 tokens per prompt-evaluation call.
- **flash attention** on the CPU, off (LlmForge's) against on.

Outputs are compared text for text with the first variant's. Prompt tokens: all of them; those a loop that reuses only
the previous prompt's prefix evaluates (llama-cpp-python one at a time); those each variant evaluated (the decoder's
counter); and the prefix-trie count, the least any exact prefix reuse can evaluate.
"""
from __future__ import annotations
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "comparison" / "lmeval"))
from harness import Bench, REPO

bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("--study", default=str(REPO / "params" / "rag_hotpotqa.yaml"))
p.add_argument("--n", type=int, default=10, help="items per arm (default 10)")
p.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: what LlmForge's engine uses)")
a = bench.parse()

import os.path
import llama_cpp
from llama_cpp import Llama
from support import chat_renderer
from llmforge.core.types import Context, GenerationRequest
from llmforge.data.datasets import load_dataset
from llmforge.engines.batching import BatchedLlama, PromptCache
from llmforge.engines.llama_cpp import _n_cpus, llama_loading, prompt_cache_bytes
from llmforge.engines.mock import MockEngine
from llmforge.methods.prompting import methods
from llmforge.models.registry import resolve_model
from llmforge.pipeline.config import load_study
from llmforge.pipeline.runner import _generation

THREADS = a.threads or _n_cpus()
STUDY = load_study(a.study, {"n": a.n})
SPEC = resolve_model(next(iter(STUDY.arms.values())).model)
render = chat_renderer(SPEC.path(), SPEC.mode)[0]
ARMS: dict[str, list[GenerationRequest]] = {}
for k, cfg in STUDY.arms.items():
    m = methods.get(cfg.method.name)(**cfg.method.options)
    ctx = Context(MockEngine(mode=SPEC.mode), generation=_generation(cfg, m))
    reqs = [m.first_request(e, ctx) for e in load_dataset(cfg.dataset).sample(cfg.n, cfg.seed)]
    reqs = [GenerationRequest(prompt=r.prompt if r.prompt is not None else render(r.messages), max_tokens=r.max_tokens,
                              temperature=0.0, stop=tuple(r.stop) + (("<|im_end|>",) if r.is_chat else ())) for r in reqs]
    ARMS[k] = sorted(reqs, key=lambda r: r.prompt)

with llama_loading(SPEC.path()):
    LLM = Llama(model_path=str(SPEC.path()), n_ctx=max(c.engine.n_ctx or SPEC.n_ctx for c in STUDY.arms.values()),
                n_threads=THREADS, seed=0, verbose=False)

# ---------------------------------------------------------------- prompt tokens: all, previous-prefix reuse, the trie
toks = [LLM.tokenize(r.prompt.encode(), special=True) for rs in ARMS.values() for r in rs]
prev, sequential, trie, trie_count = [], 0, {}, 0
for t in toks:
    sequential += len(t) - len(os.path.commonprefix([prev, t])); prev = t
    node = trie
    for x in t:
        if x not in node: node[x] = {}; trie_count += 1
        node = node[x]
bench.fact(study=a.study, n=a.n, model=SPEC.name, threads=THREADS, prompts={k: len(v) for k, v in ARMS.items()},
           prompt_tokens=dict(all=sum(map(len, toks)), previous_prefix_reuse=sequential, prefix_trie=trie_count),
           prompt_cache_budget_bytes=prompt_cache_bytes())


def arms_in_turn(cache: bool = False, n_batch: int = 512, flash: bool = False):
    "The arms one after another, a new decoder each (a new run), sharing a prompt cache or not."
    def f(rnd):
        pc = PromptCache(prompt_cache_bytes()) if cache else None
        orig = llama_cpp.llama_init_from_model
        def init(model, cp):
            cp.flash_attn_type = 1 if flash else cp.flash_attn_type
            return orig(model, cp)
        s, texts, st = 0.0, [], {}
        for reqs in ARMS.values():
            llama_cpp.llama_init_from_model = init
            try: dec = BatchedLlama(LLM, n_seq=8, n_batch=n_batch, n_threads=THREADS, prompt_cache=pc)
            finally: llama_cpp.llama_init_from_model = orig
            t = time.perf_counter(); res = dec.run(reqs); s += time.perf_counter() - t
            texts += [r.text for r in res]
            for k, v in dec.stats.items(): st[k] = st.get(k, 0) + v
            dec.close()
        return {"s": s, "_texts": texts, "prompt_tokens": st["prompt_tokens"], "restored_tokens": st["restored_tokens"],
                "prefill_s": st["prefill_s"], "decode_s": st["decode_s"]}
    return f

c1 = bench.comparison("prompt cache in host memory across arms", {"no cache": arms_in_turn(), "cache": arms_in_turn(cache=True)},
                      ratios=[("no cache", "cache")], ratio_of=("s", "prefill_s"))
c2 = bench.comparison("tokens per prompt-evaluation call", {"512": arms_in_turn(), "1024": arms_in_turn(n_batch=1024),
                                                             "2048": arms_in_turn(n_batch=2048)},
                      ratios=[("512", "1024"), ("512", "2048")], ratio_of=("s", "prefill_s"))
c3 = bench.comparison("flash attention (CPU)", {"off": arms_in_turn(), "on": arms_in_turn(flash=True)},
                      ratios=[("off", "on")], ratio_of=("s", "prefill_s"))
bench.run(c1, c2, c3)
ref = c1.rounds[0]["no cache"]["_texts"]
bench.fact(identical_outputs={f"{c.title}: {v}": f"{min(sum(x == y for x, y in zip(row[v]['_texts'], ref)) for row in c.rounds)}/{len(ref)}"
                              for c in (c1, c2, c3) for v in c.variants})
LLM.close()
bench.save()
