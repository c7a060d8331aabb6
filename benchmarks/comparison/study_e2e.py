"""A study as users run it, end to end from the shell: `llmforge run params/study_gsm8k.yaml` against
lm-evaluation-harness running the same arms (one `lm-eval run` per arm against a llama.cpp server), in rounds that
alternate which side runs first, every arm's outputs compared item by item; and the raw llama.cpp floor on the same prompts.

    python benchmarks/comparison/study_e2e.py [--study params/study_gsm8k.yaml] [--n N] [--rounds 2] [--set KEY=VALUE ...]
        [--venv /tmp/llmforge-lmeval-venv] [--no-install] [--threads T] [--raw sequential,batched] [--keep]

What each side does, timed from the shell (wall seconds of the whole thing, as a user waits for it)
---------------------------------------------------------------------------------------------------
- LlmForge: `llmforge run STUDY [--set ...]` in a new empty folder (its own `.llmforge` home, `mlflow.db` and
  `reports/`, so no response is cached and nothing resumes; only the retrieval indexes and the embedding model's ONNX
  export, which preparing the prompts built, are linked in, as a user's later runs find them): every arm a child MLflow run with its records, traces,
  metrics and HTML report, then the paired comparison of the arms into the study's run and its report.
- lm-eval (`lm-eval[api]==0.4.13` in its own virtualenv, never imported here): a llama.cpp server is started
  (`python -m llama_cpp.server`, the GGUF loaded as LlmForge loads it, the threads LlmForge's engine uses), then one
  `lm-eval run --model local-completions --tasks ARM --include_path DIR --log_samples --output_path DIR` per arm (three
  invocations for the three arms), then the server is stopped. Start-up of the server is inside lm-eval's time (a user
  waits for it too; it is also reported alone).

Why it is the same work
-----------------------
- The items: each arm's `load_dataset(dataset).sample(n, seed)`; lm-eval reads exactly those from a JSONL per arm.
- The prompts: each arm's method builds its first request (`first_request`) for every item; chat messages are rendered
  with the GGUF's own template through llama-cpp-python's `Jinja2ChatFormatter` (what the chat endpoint and LlmForge's
  engine tokenize), and that string is lm-eval's `doc_to_text`; `/v1/completions` tokenizes it the same way.
- Decoding: greedy, the request's max_tokens and stop strings as lm-eval's `until`, the chat template's end token as
  `eos_string`, and the sampling settings LlmForge sends (the server's defaults would apply repeat_penalty 1.1).
- Preparing those files is not timed: it is what a user writes once by hand to make lm-eval run LlmForge's prompts.
- Compared item by item: the raw text of LlmForge's first generation for the item against lm-eval's logged response.
  LlmForge may do more work than lm-eval: zero-shot CoT's default `two_stage: auto` sends a second short request when
  the reasoning states no answer (counted as `extra_calls`); lm-eval makes one request per item.

The raw floor (`--raw`): the same prompts through llama-cpp-python in this process with the model loaded once:
`sequential` (`Llama.create_completion` one after another, what the server does per request) and `batched` (every arm's
prompts handed at once to LlmForge's batched decoder, `BatchedLlama.run`, no runner, no tracking). Not end to end: no
process start, no tracking, no report; the model load is outside.
"""
from __future__ import annotations
import glob, json, multiprocessing, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent / "lmeval"))
from harness import Bench, REPO
from support import DEFAULT_LM_EVAL, DEFAULT_VENV, LlamaServer, chat_renderer, ensure_venv, lmeval_env

bench = Bench(__doc__, rounds=2)
p = bench.parser
p.add_argument("--study", default=str(REPO / "params" / "study_gsm8k.yaml"), help="the study file (default params/study_gsm8k.yaml)")
p.add_argument("--n", type=int, default=None, help="items per arm (default: the study's)")
p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override for `llmforge run --set` (repeatable)")
p.add_argument("--threads", type=int, default=None, help="the server's llama.cpp threads (default: what LlmForge's engine uses)")
p.add_argument("--raw", default="sequential,batched", help="raw llama.cpp floors to measure: sequential, batched, both (default) or none")
p.add_argument("--raw-seqs", default="8", help="sequences in flight of the batched floor, comma-separated (default 8)")
p.add_argument("--skip", choices=("none", "lm-eval", "llmforge", "both"), default="none",
               help="leave one side out (to profile the other), or both (only the raw floors)")
p.add_argument("--venv", default=DEFAULT_VENV, help=f"lm-eval's virtualenv (default {DEFAULT_VENV}; created when missing)")
p.add_argument("--no-install", action="store_true", help="stop with a message when the venv lacks lm-eval instead of installing it")
p.add_argument("--lm-eval-spec", default=DEFAULT_LM_EVAL, help=f"what pip installs into a new venv (default {DEFAULT_LM_EVAL})")
p.add_argument("--workdir", default=None, help="work dir (default: a new temporary one)")
p.add_argument("--keep", action="store_true", help="keep the work dir (run folders, lm-eval outputs, logs)")
a = bench.parse()

def say(msg: str):
    if not a.quiet: print(f"[study_e2e] {msg}", file=sys.stderr, flush=True)

WORK = Path(a.workdir or tempfile.mkdtemp(prefix="llmforge-bench-e2e-")).resolve()
WORK.mkdir(parents=True, exist_ok=True)
venv = ensure_venv(a.venv, a.lm_eval_spec, install=not a.no_install, log=WORK / "pip-install.log", say=say) if a.skip in ("none", "llmforge") else {}

import yaml
from llmforge.core.paths import home_dir
from llmforge.core.types import Context
from llmforge.data.datasets import load_dataset
from llmforge.engines.base import FIXED_SAMPLING
from llmforge.engines.llama_cpp import _n_cpus
from llmforge.engines.mock import MockEngine
from llmforge.methods.prompting import methods
from llmforge.models.registry import resolve_model
from llmforge.pipeline.cli import parse_overrides
from llmforge.pipeline.config import load_study
from llmforge.pipeline.runner import _generation
from llmforge.tracking.services import free_port

SETS = list(a.set) + ([f"n={a.n}"] if a.n else [])
STUDY = load_study(a.study, parse_overrides(SETS))
models = {c.model for c in STUDY.arms.values()}
if len(models) != 1: sys.exit(f"the arms use {len(models)} models ({', '.join(map(str, models))}); lm-eval's side serves one")
SPEC = resolve_model(next(iter(models)))
GGUF, N_CTX = SPEC.path(), max(c.engine.n_ctx or SPEC.n_ctx for c in STUDY.arms.values())
THREADS = a.threads or _n_cpus()
render, n_tokens, EOS, ADD_BOS = chat_renderer(GGUF, SPEC.mode)


class Arm:
    "One arm's items, requests, rendered prompts and generation settings, as LlmForge's runner builds them."
    def __init__(self, label: str, cfg):
        self.label, self.cfg = label, cfg
        self.method = methods.get(cfg.method.name)(**cfg.method.options)
        self.examples = load_dataset(cfg.dataset).sample(cfg.n, cfg.seed)
        ctx = Context(MockEngine(mode=SPEC.mode), generation=_generation(cfg, self.method))
        try: self.reqs = [self.method.first_request(e, ctx) for e in self.examples]
        except NotImplementedError: sys.exit(f"arm {label}: method {cfg.method.name} builds no single first request; lm-eval cannot run it")
        self.prompts = {e.id: (r.prompt if r.prompt is not None else render(r.messages)) for e, r in zip(self.examples, self.reqs)}
        g = self.reqs[0]
        if any((r.max_tokens, r.stop, r.temperature, r.top_p, r.top_k, r.repeat_penalty) !=
               (g.max_tokens, g.stop, g.temperature, g.top_p, g.top_k, g.repeat_penalty) for r in self.reqs):
            sys.exit(f"arm {label}: the requests do not share one set of generation settings; an lm-eval task takes one")
        self.gen = dict(until=list(g.stop), max_gen_toks=g.max_tokens, do_sample=g.temperature > 0, temperature=g.temperature,
                        top_p=g.top_p, top_k=g.top_k, min_p=FIXED_SAMPLING["min_p"], repeat_penalty=g.repeat_penalty,
                        presence_penalty=FIXED_SAMPLING["presence_penalty"], frequency_penalty=FIXED_SAMPLING["frequency_penalty"])
        self.task = f"llmforge_e2e_{label}"

    def write_task(self, folder: Path) -> None:
        "The arm as an lm-eval task: a JSONL of the items with their rendered prompts, and the task YAML over it."
        data = folder / f"{self.task}.jsonl"
        with open(data, "w", encoding="utf-8") as f:
            for e in self.examples:
                f.write(json.dumps({"id": e.id, "prompt": self.prompts[e.id], "answer": e.answers[0] if e.answers else ""},
                                   ensure_ascii=False) + "\n")
        task = dict(task=self.task, dataset_path="json", dataset_kwargs={"data_files": {"test": str(data)}}, test_split="test",
                    output_type="generate_until", num_fewshot=0, doc_to_text="{{prompt}}", doc_to_target="{{answer}}",
                    target_delimiter="", generation_kwargs=self.gen,
                    metric_list=[dict(metric="exact_match", aggregation="mean", higher_is_better=True, ignore_case=True)])
        (folder / f"{self.task}.yaml").write_text(yaml.safe_dump(task, sort_keys=False, allow_unicode=True))


ARMS = {k: Arm(k, c) for k, c in STUDY.arms.items()}
TASKS = WORK / "lmeval-tasks"; TASKS.mkdir(exist_ok=True)
for arm in ARMS.values(): arm.write_task(TASKS)
say(f"study {STUDY.name}: arms {', '.join(f'{k} ({len(x.examples)} items)' for k, x in ARMS.items())}; model {SPEC.name}; "
    f"llama.cpp threads {THREADS}; work dir {WORK}")


# ---------------------------------------------------------------- LlmForge: `llmforge run STUDY` in an empty folder

def llmforge_records(folder: Path) -> dict[str, dict]:
    "Each arm's records (by example id), read from the run folder's record stores and mapped to arms by MLflow's tags."
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    out = {}
    for st in folder.glob(".llmforge/runs/*/state.json"):
        rid = json.loads(st.read_text()).get("run_id")
        if not rid: continue
        arm = client.get_run(rid).data.tags.get("llmforge.arm")
        recs = [json.loads(l) for l in (st.parent / "records.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
        out[arm] = {r["id"]: r for r in recs}
    return out

def first_output(rec: dict) -> str | None:
    "The raw text of a record's first generation (its trace's first model call)."
    return next((c["output"] for c in rec.get("trace", []) if c.get("step") != "parse" and "prompt_tokens" in c), None)

HOME = home_dir().resolve()       # where preparing the prompts built any retrieval index (RAG arms' first requests retrieve)
SHARED_STATE = ("indexes", "onnx")

def run_llmforge(rnd: int) -> dict:
    folder = WORK / f"r{rnd}-llmforge"; folder.mkdir()
    for sub in SHARED_STATE:       # built retrieval indexes and the embedding model's ONNX export, as a user's later runs have them
        if (HOME / sub).is_dir(): (folder / ".llmforge").mkdir(exist_ok=True); (folder / ".llmforge" / sub).symlink_to(HOME / sub)
    exe = Path(sys.executable).with_name("llmforge")
    cmd = [str(exe) if exe.exists() else "llmforge", "run", str(Path(a.study).resolve()), "--quiet",
           *[x for s in SETS for x in ("--set", s)]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for k in ("LLMFORGE_HOME", "MLFLOW_TRACKING_URI", "LLMFORGE_KEEP_ENGINES"): env.pop(k, None)
    say(f"round {rnd}: {' '.join(cmd[1:])} in {folder}")
    t = time.perf_counter()
    with open(folder / "llmforge.log", "w") as log: rc = subprocess.run(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    s = time.perf_counter() - t
    if rc != 0: sys.exit(f"llmforge run failed (exit {rc}); log {folder / 'llmforge.log'}:\n{(folder / 'llmforge.log').read_text()[-4000:]}")
    recs = llmforge_records(folder)
    out = {"s": s, "items": sum(len(r) for r in recs.values()), "_texts": {}}
    for k in ARMS:
        r = recs.get(k, {})
        out["_texts"][k] = {i: first_output(x) for i, x in r.items()}
        out[f"extra_calls.{k}"] = sum(max(0, sum(1 for c in x.get("trace", []) if "prompt_tokens" in c) - 1) for x in r.values())
        out[f"failed.{k}"] = sum(1 for x in r.values() if x.get("error"))
    return out


# ---------------------------------------------------------------- lm-eval: a server, then one `lm-eval run` per arm

def lmeval_samples(out_dir: Path, task: str) -> dict[str, str]:
    "lm-eval's logged response for each item of `task` (by the item's id)."
    files = glob.glob(str(out_dir / "**" / f"samples_{task}_*.jsonl"), recursive=True)
    if not files: sys.exit(f"lm-eval wrote no samples for {task} under {out_dir}")
    out = {}
    for line in Path(files[0]).read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        out[s["doc"]["id"]] = s["resps"][0][0]
    return out

def run_lmeval(rnd: int) -> dict:
    folder = WORK / f"r{rnd}-lmeval"; folder.mkdir()
    lm = Path(venv["venv"]) / "bin" / "lm-eval"
    t = time.perf_counter()
    server = LlamaServer(GGUF, SPEC.name, free_port(), N_CTX, THREADS, multiprocessing.cpu_count(), folder / "llama-server.log")
    out = {}
    try:
        out["server_start_s"] = server.start()
        for k, arm in ARMS.items():
            model_args = ",".join(f"{x}={y}" for x, y in dict(
                model=SPEC.name, base_url=f"{server.base}/completions", tokenizer_backend=None, tokenized_requests=False,
                num_concurrent=1, max_retries=3, seed=0, max_length=N_CTX, timeout=600, **({"eos_string": EOS} if EOS else {})).items())
            cmd = [str(lm), "run", "--model", "local-completions", "--model_args", model_args, "--tasks", arm.task,
                   "--include_path", str(TASKS), "--batch_size", "1", "--log_samples", "--output_path", str(folder / k)]
            say(f"round {rnd}: lm-eval run --tasks {arm.task}")
            t1 = time.perf_counter()
            with open(folder / f"lmeval-{k}.log", "w") as log:
                rc = subprocess.run(cmd, cwd=folder, env=lmeval_env(folder), stdout=log, stderr=subprocess.STDOUT).returncode
            out[f"s.{k}"] = time.perf_counter() - t1
            if rc != 0: sys.exit(f"lm-eval failed (exit {rc}); log {folder / f'lmeval-{k}.log'}:\n{(folder / f'lmeval-{k}.log').read_text()[-4000:]}")
    finally:
        server.stop()
    out["s"] = time.perf_counter() - t
    out["_texts"] = {k: lmeval_samples(folder / k, arm.task) for k, arm in ARMS.items()}
    out["items"] = sum(len(x) for x in out["_texts"].values())
    return out


# ---------------------------------------------------------------- the raw llama.cpp floor on the same prompts

def raw_floors() -> dict:
    from llama_cpp import Llama
    from llmforge.core.types import GenerationRequest
    from llmforge.engines.batching import BatchedLlama
    from llmforge.engines.llama_cpp import llama_loading
    kinds = {"sequential", "batched"} if a.raw == "both" else {x for x in a.raw.split(",") if x in ("sequential", "batched")}
    with llama_loading(GGUF):
        llm = Llama(model_path=str(GGUF), n_ctx=N_CTX, n_threads=THREADS, seed=0, verbose=False, logits_all=False)
    out, texts = {}, {}
    order = [(k, e.id) for k, arm in ARMS.items() for e in sorted(arm.examples, key=lambda e: arm.prompts[e.id])]
    if "sequential" in kinds:
        t = time.perf_counter()
        for k, i in order:
            g = ARMS[k].gen
            r = llm.create_completion(prompt=ARMS[k].prompts[i], max_tokens=g["max_gen_toks"], temperature=g["temperature"],
                                      top_p=g["top_p"], top_k=g["top_k"], repeat_penalty=g["repeat_penalty"],
                                      stop=g["until"] + ([EOS] if EOS else []), **FIXED_SAMPLING)
            texts.setdefault("sequential", {}).setdefault(k, {})[i] = r["choices"][0]["text"]
        out["sequential_s"] = time.perf_counter() - t
        llm.reset()
    if "batched" in kinds:
        reqs = [GenerationRequest(prompt=ARMS[k].prompts[i], max_tokens=ARMS[k].gen["max_gen_toks"], temperature=0.0,
                                  top_p=ARMS[k].gen["top_p"], top_k=ARMS[k].gen["top_k"], repeat_penalty=ARMS[k].gen["repeat_penalty"],
                                  stop=tuple(ARMS[k].gen["until"]) + ((EOS,) if EOS else ())) for k, i in order]
        for n_seq in map(int, a.raw_seqs.split(",")):
            dec = BatchedLlama(llm, n_seq=n_seq, n_threads=THREADS)
            t = time.perf_counter()
            res = dec.run(reqs)
            out[f"batched_{n_seq}_s"] = time.perf_counter() - t
            out[f"batched_{n_seq}_stats"] = {k: round(v, 2) for k, v in dec.stats.items()}
            dec.close()
            for (k, i), r in zip(order, res): texts.setdefault(f"batched_{n_seq}", {}).setdefault(k, {})[i] = r.text
    llm.close()
    return {**out, "_texts": texts}


# ---------------------------------------------------------------- run, compare, report

def agreement(x: dict, ref: dict) -> dict:
    "Per arm: items compared and how many raw outputs are identical."
    out = {}
    for k in ARMS:
        ids = [i for i in x.get(k, {}) if i in ref.get(k, {})]
        out[k] = dict(items=len(ids), identical=sum(x[k][i] == ref[k][i] for i in ids))
    return out

def per_round(c) -> list[dict]:
    "The end-to-end table: each side's seconds, the ratio and identical outputs, per round."
    rows = []
    for row in c.rounds:
        r = {"round": row["round"], "first": row["order"][0]}
        for v in c.variants: r[f"{v} s"] = round(row[v]["s"], 1)
        if len(c.variants) == 2:
            agree = agreement(row["LlmForge"]["_texts"], row["lm-eval"]["_texts"])
            r["lm-eval / LlmForge"] = round(row["lm-eval"]["s"] / row["LlmForge"]["s"], 3)
            r["identical outputs"] = f"{sum(x['identical'] for x in agree.values())}/{sum(x['items'] for x in agree.values())}"
            r.update({f"identical {k}": f"{x['identical']}/{x['items']}" for k, x in agree.items()})
        rows.append(r)
    return rows

variants = {}
if a.skip in ("none", "llmforge"): variants["lm-eval"] = run_lmeval
if a.skip in ("none", "lm-eval"): variants["LlmForge"] = run_llmforge
c = None
try:
    if variants: c = bench.compare(f"{STUDY.name} end to end ({len(ARMS)} arms x {len(next(iter(ARMS.values())).examples)} items)",
                      variants, ratios=[("lm-eval", "LlmForge")] if len(variants) == 2 else [], ratio_of=("s",),
                      show=("s", "server_start_s", *[f"s.{k}" for k in ARMS]))
    if c is not None: bench.table("end to end, per round", per_round(c))
    if a.raw != "none":
        say("raw llama.cpp floor on the same prompts ...")
        raw = raw_floors()
        ref = (c.rounds[0].get("lm-eval") or c.rounds[0]["LlmForge"])["_texts"] if c else next(iter(raw["_texts"].values()), {})
        bench.fact(raw_floor={k: (round(v, 1) if isinstance(v, float) else v) for k, v in raw.items() if not k.startswith("_")},
                   raw_identical={kind: {k: f"{x['identical']}/{x['items']}" for k, x in agreement(t, ref).items()}
                                  for kind, t in raw["_texts"].items()},
                   **({"llmforge_over_raw_floor": {k: round(statistics.median(r["LlmForge"]["s"] for r in c.rounds) / v, 3)
                                                  for k, v in raw.items() if k.endswith("_s")}} if c and "LlmForge" in c.variants else {}),
                   raw_identical_reference="lm-eval, first round" if c and "lm-eval" in c.rounds[0] else
                                           "LlmForge, first round" if c else f"the {next(iter(raw['_texts']), '')} floor")
finally:
    if not a.keep: shutil.rmtree(WORK, ignore_errors=True)
bench.fact(study=str(Path(a.study).resolve().relative_to(REPO)) if Path(a.study).resolve().is_relative_to(REPO) else a.study,
           overrides=SETS, model=SPEC.name, gguf=GGUF.name, threads=THREADS, lm_eval=venv,
           arms={k: dict(method=x.cfg.method.model_dump(), items=len(x.examples), generation=x.gen) for k, x in ARMS.items()},
           workdir=str(WORK) if a.keep else None)
bench.save()
