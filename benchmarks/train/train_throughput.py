"""Fine-tuning throughput on this machine: training tokens/s and peak resident memory per model, method and precision.

The grid: model (smollm2-135m-instruct, gemma3-270m) x method (LoRA, full) x precision (fp32, bf16 autocast) for SFT,
and LoRA DPO on smollm2-135m-instruct in both precisions. bf16 runs only where `llmforge.train.trainer.native_bf16()`
holds (AMX-BF16 / AVX512-BF16 or a CUDA GPU); elsewhere it is recorded as skipped. Everything goes through the project's
own code: the data is prepared once per model in a temporary folder with `llmforge.prep.build.prepare` (64 rows of
`project:training/self_instruct_seed_tasks.jsonl` as SFT, or of `project:training/hh_rlhf_harmless_base_test.jsonl.gz` as
preference pairs; no PII scan or decontamination; the model's template, `gemma` for Gemma; at most 256 tokens a row; a
90/10 train/validation split), and each configuration is trained by `build_trainer` on `read_prepared` data with a
`TrainConfig` (batch_size 1, grad_accum 1, max_length 256, LoRA r 16 on q/k/v/o, `precision` fp32 or bf16) and the
model from `llmforge.models.hf.load_causal_lm`.

Each configuration runs in a fresh subprocess, so that its peak resident memory (VmHWM, MiB; see `rss_mb`) is its own: a
few warm-up optimizer steps (not counted), then `--steps` timed ones. Tokens are the non-padding tokens of the timed
steps' batches (the sum of their attention masks; for DPO the chosen and the rejected sequence, each with its prompt);
the time runs from the end of the last warm-up step to the end of the last timed step (data loading, forward, backward,
optimizer step); `tok_per_s_step_median` is the median over the timed steps of each step's own tokens/s, which a few
steps slowed by other processes on a shared machine move less. Every configuration sees the same training rows in the
same order (seed 0), so the tokens per model are equal across methods and precisions. Besides the peak, `model_mb` is
the peak once the model is loaded (before training), and `trainable_m` the trainable parameters in millions, `step_s`
every step's time after the first (warm-up included), and `s` the configuration's whole subprocess (start-up, loading,
data preparation by TRL, all steps). Ratios (bf16 / fp32 per method, LoRA / full per precision) are computed within each
round; the configurations of a model run one after another, in alternating order across rounds. The dequantized copy of
each GGUF model is made (or found) before any configuration runs, in `$LLMFORGE_HOME` or the checkout's `.llmforge`, so
no configuration times or counts that conversion.

Threads: `llmforge train` leaves torch at one thread per core. When other processes share the cores, a descheduled
thread holds up the other at every parallel region, and single steps slow down many times over at random; so by default
each configuration runs with one thread (`--threads 1`), which gives up the second core but is slowed only in proportion
to the sharing, and its ratios hold up on a busy machine. `--threads 0` keeps torch's own choice (for an idle machine).
The result records the threads each configuration ran with.

    python benchmarks/train/train_throughput.py        # the whole grid: --steps 6 --warmup 2 --rounds 2 --threads 1
    python benchmarks/train/train_throughput.py --steps 2 --warmup 1 --rounds 1 --models smollm2-135m-instruct --kinds sft
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer
import atexit, json, os, shutil, statistics, subprocess, tempfile, time

MODELS = ("smollm2-135m-instruct", "gemma3-270m")
TEMPLATE = {"gemma3-270m": "gemma"}                 # prep's template per model; the others use the model's own ("model")
DATA = {"sft": ("project:training/self_instruct_seed_tasks.jsonl", "sft"),
        "dpo": ("project:training/hh_rlhf_harmless_base_test.jsonl.gz", "preference")}


# ------------------------------------------------------------------ one configuration, in its own process

def rss_mb() -> float:
    """This process's peak resident memory so far, in MiB: VmHWM of /proc/self/status where there is one, else ru_maxrss.

    On Linux a child's `ru_maxrss` starts at its parent's peak (subprocess forks, or vforks, then execs, and exec keeps
    the larger of the two), so a worker's own figure would never read below the parent's; VmHWM belongs to the address
    space that exec created, which is the worker's alone."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"): return round(int(line.split()[1]) / 1024, 1)
    except OSError: pass
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)       # KiB on Linux


class _Done(Exception):
    "Raised after the last timed step: ends training without the end-of-training checkpoint."


def worker(spec: dict) -> dict:
    "Load the model, (unless spec['load_only']) train warm-up + timed steps; the measurements."
    import torch, transformers
    if spec.get("threads"): torch.set_num_threads(spec["threads"])
    from llmforge.models.hf import load_causal_lm
    transformers.set_seed(0)
    with timer() as t: model, tok = load_causal_lm(spec["model"])
    out = {"load_s": round(t.s, 2), "model_mb": rss_mb()}
    if spec.get("load_only"): return out
    from transformers import TrainerCallback
    from llmforge.train.trainer import TrainConfig, build_trainer, read_prepared, use_bf16
    W, N = spec["warmup"], spec["steps"]
    with tempfile.TemporaryDirectory(prefix="llmforge-train-bench-") as d:
        cfg = TrainConfig(name="throughput", kind=spec["kind"], model=spec["model"], data=spec["data"], output=d,
                          method=spec["method"], precision=spec["precision"], max_steps=W + N, batch_size=1, grad_accum=1,
                          max_length=spec["max_length"], logging_steps=10_000, save_steps=10_000, seed=0)
        data = read_prepared(cfg.data, cfg.kind, tok.eos_token)
        if len(data["train"]) < W + N: raise SystemExit(f"only {len(data['train'])} training rows for {W + N} steps")
        ends, tokens = {}, []

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                ends[state.global_step] = time.perf_counter()
                if state.global_step >= W + N: raise _Done

        trainer = build_trainer(cfg, model, tok, data, callbacks=[Clock()])
        step = trainer.training_step

        def counted(model, inputs, *args, **kw):          # the batch each optimizer step trains on
            m = inputs.get("attention_mask")
            tokens.append((trainer.state.global_step, int(m.sum()) if m is not None else int(inputs["input_ids"].numel())))
            return step(model, inputs, *args, **kw)

        trainer.training_step = counted
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        try: trainer.train()
        except _Done: pass
        if W + N not in ends: raise SystemExit(f"training stopped after {max(ends, default=0)} of {W + N} steps")
        s = ends[W + N] - ends[W]
        n_tok = sum(n for g, n in tokens if g >= W)        # the batches trained while global_step was W .. W+N-1
        per_step = [sum(n for g, n in tokens if g == i - 1) / (ends[i] - ends[i - 1]) for i in range(W + 1, W + N + 1)]
        out.update(tok_per_s=round(n_tok / s, 1), tok_per_s_step_median=round(statistics.median(per_step), 1),
                   s_per_step=round(s / N, 3), tokens=n_tok, steps=N,
                   step_s=[round(ends[i] - ends[i - 1], 3) for i in range(2, W + N + 1)],   # every step after the first
                   peak_mb=rss_mb(), trainable_m=round(trainable / 1e6, 2), bf16=bool(trainer.args.bf16),
                   bf16_expected=use_bf16(cfg.precision), threads=torch.get_num_threads())
    return out


if len(sys.argv) == 4 and sys.argv[1] == "--worker":      # python train_throughput.py --worker SPEC.json OUT.json
    res = worker(json.loads(Path(sys.argv[2]).read_text()))
    Path(sys.argv[3]).write_text(json.dumps(res))
    raise SystemExit(0)


# ------------------------------------------------------------------ the grid

def run_worker(spec: dict, timeout: float, tmp: Path) -> dict:
    "One configuration in a fresh Python process; its measurements, or {'error': ...}."
    sp, op = tmp / "spec.json", tmp / "out.json"
    sp.write_text(json.dumps(spec)); op.unlink(missing_ok=True)
    try:
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(sp), str(op)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if r.returncode == 0 and op.is_file(): return json.loads(op.read_text())
    why = (f"killed by signal {-r.returncode}" + (" (out of memory?)" if r.returncode == -9 else "") if r.returncode < 0
           else f"exit code {r.returncode}")
    tail = [l for l in (r.stderr or "").strip().splitlines() if l.strip()][-1:]
    return {"error": why + (f": {tail[0][:300]}" if tail else "")}


if __name__ == "__main__":
    bench = Bench(__doc__, rounds=2)
    p = bench.parser
    p.add_argument("--steps", type=int, default=6, help="timed optimizer steps per configuration and round (default 6)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps before them, not counted (default 2)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: %(default)s)")
    p.add_argument("--methods", default="lora,full", help="SFT methods (default: %(default)s)")
    p.add_argument("--precisions", default="fp32,bf16", help="default: %(default)s (bf16 only where native)")
    p.add_argument("--kinds", default="sft,dpo", help="sft: the whole grid; dpo: LoRA on --dpo-model only (default: %(default)s)")
    p.add_argument("--dpo-model", default="smollm2-135m-instruct")
    p.add_argument("--limit", type=int, default=64, help="rows prepared per data set (default 64)")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per configuration (default 1; 0: torch's own choice, one per core)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per configuration before it is stopped (default 1200)")
    a = bench.parse()
    if a.steps < 1 or a.warmup < 1: bench.parser.error("--steps and --warmup must be >= 1 (timing starts at a warm-up step's end)")

    from llmforge.core.paths import project_root
    os.environ.setdefault("LLMFORGE_HOME", str(project_root() / ".llmforge"))   # where the dequantized models are kept
    from llmforge.prep.config import PrepConfig
    from llmforge.prep.build import prepare
    from llmforge.train.trainer import native_bf16

    models, kinds = a.models.split(","), a.kinds.split(",")
    methods, precisions = a.methods.split(","), a.precisions.split(",")
    bf16_ok = native_bf16()
    run_precisions = [q for q in precisions if q != "bf16" or bf16_ok]
    skipped = [] if bf16_ok or "bf16" not in precisions else ["bf16: native_bf16() is False on this machine"]
    bench.fact(native_bf16=bf16_ok, skipped=skipped, steps=a.steps, warmup=a.warmup)

    tmp = Path(tempfile.mkdtemp(prefix="llmforge-train-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)     # the prepared data and the workers' spec and result files
    grid = []                                         # (kind, model, [(method, precision)])
    for m in models:
        if "sft" in kinds: grid.append(("sft", m, [(x, q) for x in methods for q in run_precisions]))
    if "dpo" in kinds and a.dpo_model in models: grid.append(("dpo", a.dpo_model, [("lora", q) for q in run_precisions]))

    data, rows = {}, {}
    for kind, m, _ in grid:
        inp, fmt = DATA[kind]
        out = tmp / f"{kind}-{m}"
        with timer() as t:
            res = prepare(PrepConfig(input=inp, format=fmt, output=str(out), model=m, template=TEMPLATE.get(m, "model"),
                                     limit=a.limit, pii={"enabled": False}, decontaminate={"enabled": False},
                                     max_tokens=256, split={"sizes": {"train": 0.9, "validation": 0.1}}), log=lambda s: None)
        data[kind, m] = str(out)
        train_rows = [json.loads(l) for l in (out / "train.jsonl").read_text().splitlines()]
        rows[f"{kind} {m}"] = {"train_rows": len(train_rows), "prep_s": round(t.s, 1),
                               "mean_n_tokens": round(sum(r.get("n_tokens", 0) for r in train_rows) / max(len(train_rows), 1), 1)}
        bench.log(f"[prep] {kind} {m}: {rows[f'{kind} {m}']}")
    bench.fact(data=rows)

    loads = {}
    for m in models:                                  # the dequantized copy, made once here, not inside a timed configuration
        r = run_worker({"model": m, "load_only": True, "threads": a.threads}, a.timeout, tmp)
        loads[m] = r
        bench.log(f"[load] {m}: {r}")
    bench.fact(model_load=loads)

    def variant(kind, m, method, precision):
        spec = dict(kind=kind, model=m, method=method, precision=precision, data=data[kind, m], steps=a.steps,
                    warmup=a.warmup, max_length=a.max_length, threads=a.threads)
        def run(rnd):
            if "error" in loads[m]: return {"error": f"model did not load: {loads[m]['error']}"}
            out = run_worker(spec, a.timeout, tmp)
            if "error" in out: bench.log(f"[{kind} {m} {method} {precision}] round {rnd} failed: {out['error']}")
            return out
        return run

    comps = []
    for kind, m, cells in grid:
        names = {f"{x} {q}": variant(kind, m, x, q) for x, q in cells}
        ratios = [(f"{x} bf16", f"{x} fp32") for x in methods if f"{x} bf16" in names and f"{x} fp32" in names]
        ratios += [(f"lora {q}", f"full {q}") for q in run_precisions if f"lora {q}" in names and f"full {q}" in names]
        comps.append(bench.comparison(f"{kind}: {m}", names, ratios=ratios, ratio_of=("tok_per_s", "tok_per_s_step_median", "peak_mb"),
                                      show=("tok_per_s", "tok_per_s_step_median", "s_per_step", "tokens", "peak_mb", "model_mb")))
    bench.run(*comps)

    table = []
    for (kind, m, cells), c in zip(grid, comps):
        summ = c.summary()["variants"]
        for x, q in cells:
            v = f"{x} {q}"
            errs = [row[v]["error"] for row in c.rounds if "error" in row.get(v, {})]
            med = lambda k, nd=1: round(summ[v][k]["median"], nd) if k in summ[v] else ""
            table.append({"kind": kind, "model": m, "method": x, "precision": q, "tok_per_s": med("tok_per_s"), "tok_per_s_step_median": med("tok_per_s_step_median"),
                          "s_per_step": med("s_per_step", 3), "peak_mb": med("peak_mb"), "model_mb": med("model_mb"),
                          "trainable_m": med("trainable_m", 2), "status": "; ".join(errs) or "ok"})
        for q in precisions:
            if q not in run_precisions:
                for x in (methods if kind == "sft" else ["lora"]):
                    table.append({"kind": kind, "model": m, "method": x, "precision": q, "status": "skipped (no native bf16)"})
    bench.table("per configuration (median over rounds)", table)
    bench.save()
