"""Resume after kill -9: does a training run killed mid-way and started again end where an uninterrupted run ends?

The real command line on real data, as a user meets it. A small prep folder is made once (SFT: 64 rows of
`project:training/self_instruct_seed_tasks.jsonl`, or DPO: 64 pairs of `project:training/hh_rlhf_harmless_base_test.jsonl.gz`;
no PII scan or decontamination; at most 256 tokens a row; 90/10 train/validation), and two copies of one training file
(LoRA on smollm2-135m-instruct, `--steps` optimizer steps, a loss at every step, a checkpoint every `--save-every`) are
trained with `llmforge train ... --quiet` into their own folders, each with its own MLflow store:

- `uninterrupted`: one run to the end;
- `killed`: the same run, sent SIGKILL (to its whole process group) as soon as the checkpoint of step `--kill-after`
  exists, that is in the middle of the following steps; then the same command again, which finds the checkpoint and
  resumes.

Recorded per round: the step the re-run resumed from, the steps it trained (`steps_retrained`, against the `--steps` of
a run from scratch), the wall time of the uninterrupted run, of the killed run until the kill and of the re-run, the
largest absolute difference between the two runs' logged training losses over the steps after the resume
(`max_loss_diff`), the difference of the final training loss (`final_loss_diff`, the last logged step) and of the
validation loss at the end (`eval_loss_diff`), and the MLflow status of the killed run (the re-run marks a run left
RUNNING by a killed process as KILLED). Each process runs with `--threads` torch threads (default 1: on a busy machine
a multi-threaded step is slowed unevenly, and the comparison is of losses, not of speed).

    python benchmarks/train/resume_after_kill.py                       # SFT and DPO: --steps 12 --save-every 4 --kill-after 8
    python benchmarks/train/resume_after_kill.py --kinds sft --rounds 1
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench
import json, os, shutil, signal, subprocess, tempfile, time

DATA = {"sft": ("project:training/self_instruct_seed_tasks.jsonl", "sft"),
        "dpo": ("project:training/hh_rlhf_harmless_base_test.jsonl.gz", "preference")}


def train_yaml(kind: str, data: Path, out: str, a) -> str:
    return (f"name: resume_{kind}\nkind: {kind}\nmodel: smollm2-135m-instruct\ndata: {data}\noutput: {out}\nmethod: lora\n"
            f"max_steps: {a.steps}\nbatch_size: 2\ngrad_accum: 1\nmax_length: 256\nlearning_rate: 2.0e-4\n"
            f"logging_steps: 1\nsave_steps: {a.save_every}\nseed: 0\ntracking: {{experiment: resume-bench}}\n")


def losses(folder: Path) -> dict[int, float]:
    "step -> training loss from the newest checkpoint's trainer_state.json (the whole log history)."
    ck = max(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    hist = json.loads((ck / "trainer_state.json").read_text())["log_history"]
    return {h["step"]: h["loss"] for h in hist if "loss" in h}


def card(folder: Path) -> dict:
    return json.loads((folder / "final" / "train_card.json").read_text())


def one_round(kind: str, data: Path, a, env: dict) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"resume-{kind}-"))
    try:
        out = {}
        for name in ("uninterrupted", "killed"):
            d = work / name; d.mkdir()
            (d / "t.yaml").write_text(train_yaml(kind, data, "run", a))
        cmd = ["llmforge", "train", "t.yaml", "--quiet"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=work / "uninterrupted", env=env, capture_output=True, text=True, timeout=a.timeout)
        out["uninterrupted_s"] = round(time.perf_counter() - t0, 1)
        if r.returncode: return {"error": f"uninterrupted run failed: {r.stderr.strip()[-300:]}"}
        k = work / "killed"
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=k, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        target = k / "run" / f"checkpoint-{a.kill_after}"
        while not (target / "trainer_state.json").exists():
            if p.poll() is not None: return {"error": f"the run ended (rc {p.returncode}) before checkpoint-{a.kill_after}"}
            if time.perf_counter() - t0 > a.timeout: os.killpg(p.pid, signal.SIGKILL); return {"error": "timed out"}
            time.sleep(0.2)
        time.sleep(a.kill_delay)                       # into the steps after the checkpoint
        os.killpg(p.pid, signal.SIGKILL); p.wait()
        out["until_kill_s"] = round(time.perf_counter() - t0, 1)
        out["finished_before_kill"] = (k / "run" / "final").exists()
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=k, env=env, capture_output=True, text=True, timeout=a.timeout)
        out["rerun_s"] = round(time.perf_counter() - t0, 1)
        if r.returncode: return {"error": f"re-run failed: {r.stderr.strip()[-300:]}"}
        ca, cb = card(work / "uninterrupted" / "run"), card(k / "run")
        resumed = int(str(cb["resumed_from"] or "checkpoint-0").rsplit("-", 1)[1])
        la, lb = losses(work / "uninterrupted" / "run"), losses(k / "run")
        after = [s for s in la if s > resumed]
        from mlflow.tracking import MlflowClient
        cl = MlflowClient(f"sqlite:///{k / 'mlflow.db'}")
        runs = cl.search_runs([cl.get_experiment_by_name("resume-bench").experiment_id], order_by=["attributes.start_time ASC"])
        out.update(resumed_from_step=resumed, steps_retrained=cb["global_step"] - resumed, steps_total=ca["global_step"],
                   max_loss_diff=max(abs(la[s] - lb[s]) for s in after), final_loss=round(la[max(la)], 4),
                   final_loss_diff=abs(la[max(la)] - lb[max(lb)]),
                   eval_loss_diff=abs(ca["metrics"]["eval_loss"] - cb["metrics"]["eval_loss"]),
                   mlflow_statuses=[r.info.status for r in runs])
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    bench = Bench(__doc__, rounds=1)
    p = bench.parser
    p.add_argument("--kinds", default="sft,dpo")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--save-every", type=int, default=4)
    p.add_argument("--kill-after", type=int, default=8, help="kill once this step's checkpoint exists (a multiple of --save-every)")
    p.add_argument("--kill-delay", type=float, default=1.0, help="seconds to wait after that checkpoint before the kill")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800)
    a = bench.parse()
    if a.kill_after % a.save_every or not 0 < a.kill_after < a.steps:
        p.error("--kill-after must be a multiple of --save-every below --steps")

    from llmforge.core.paths import project_root
    os.environ.setdefault("LLMFORGE_HOME", str(project_root() / ".llmforge"))
    from llmforge.prep.config import PrepConfig
    from llmforge.prep.build import prepare
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads), "PYTHONUNBUFFERED": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="llmforge-resume-bench-"))
    rows = []
    try:
        for kind in a.kinds.split(","):
            inp, fmt = DATA[kind]
            prepare(PrepConfig(input=inp, format=fmt, output=str(tmp / kind), limit=64, pii={"enabled": False},
                               decontaminate={"enabled": False}, max_tokens=256,
                               split={"sizes": {"train": 0.9, "validation": 0.1}}), log=lambda s: None)
            for rnd in range(1, a.rounds + 1):
                res = one_round(kind, tmp / kind, a, env)
                bench.log(f"{kind} round {rnd}: {res}")
                rows.append({"kind": kind, "round": rnd, **res})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench.fact(steps=a.steps, save_every=a.save_every, kill_after=a.kill_after, threads=a.threads, model="smollm2-135m-instruct")
    bench.table("kill -9 after a checkpoint, then the same command again", rows)
    bench.save()
