"""Naive vs CoT end to end: naive vs zero-shot CoT vs 3-shot CoT on GSM8K and TriviaQA with SmolLM2 through
`llmforge run` (papermill, MLflow, report), then a cached re-run and an interrupted-then-resumed run.

    python benchmarks/comparison/naive_vs_cot.py [workdir] [--experiments gsm8k_naive,...] [--n N]
        [--interrupt-after 20] [--rounds 1]

Each round works in its own folder (`workdir/round-R`, default workdir a new temporary one) with its own LLMFORGE_HOME,
MLflow store and reports, and runs:

- experiments: each params file (default gsm8k_naive gsm8k_cot gsm8k_cot3 triviaqa_naive triviaqa_cot triviaqa_cot3,
  50 items each; `--experiments` or $EXPERIMENTS to change, `--n` passes `--set n=N`) with `llmforge run --quiet`;
  measurements from each run's report JSON: accuracy with its 95% CI, loop time, start-up, latency p50, generated
  tokens, cached, resumed and failed counts;
- cache and resume: gsm8k_cot again (its responses come from the round's cache), and triviaqa_cot with a fresh cache,
  interrupted (SIGINT) after `--interrupt-after` seconds and then resumed (records on disk after the interruption,
  resumed count).

`llmforge run` is called as `python -c "from llmforge.pipeline.cli import main ..."` with this interpreter.
"""
import glob, json, os, signal, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, REPO

DEFAULT = "gsm8k_naive,gsm8k_cot,gsm8k_cot3,triviaqa_naive,triviaqa_cot,triviaqa_cot3"
bench = Bench(__doc__, rounds=1)
p = bench.parser
p.add_argument("workdir", nargs="?", default=None, help="work folder (default: a new temporary one)")
p.add_argument("--experiments", default=os.environ.get("EXPERIMENTS", DEFAULT).replace(" ", ","),
               help="comma-separated params/<name>.yaml to run (default: $EXPERIMENTS or the six above)")
p.add_argument("--n", type=int, default=None, help="items per experiment (default: each params file's n)")
p.add_argument("--interrupt-after", type=float, default=20, help="seconds before the resume run is interrupted (default 20)")
a = bench.parse()
exps = [e for e in a.experiments.split(",") if e]
missing = [e for e in exps if not (REPO / "params" / f"{e}.yaml").exists()]
if missing: bench.parser.error(f"no params file for {missing} in {REPO / 'params'}")
WD = Path(a.workdir or tempfile.mkdtemp(prefix="llmforge-naive-vs-cot-")).resolve()
CLI = [sys.executable, "-c", "import sys; from llmforge.pipeline.cli import main; sys.exit(main(sys.argv[1:]))"]
bench.log(f"work dir {WD}")


def home(rnd: int, name: str = ".llmforge") -> tuple[Path, dict]:
    cwd = WD / f"round-{rnd}"; cwd.mkdir(parents=True, exist_ok=True)
    return cwd, {**os.environ, "LLMFORGE_HOME": str(cwd / name), "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}


def command(exp: str) -> list[str]:
    return CLI + ["run", str(REPO / "params" / f"{exp}.yaml"), "--quiet"] + (["--set", f"n={a.n}"] if a.n else [])


def summary(cwd: Path, exp: str) -> dict:
    "The newest report JSON of an experiment -> its figures."
    f = max(glob.glob(str(cwd / "reports" / f"{exp}-*.json")), key=os.path.getmtime)
    s = json.load(open(f))["summary"]
    return dict(accuracy=s["accuracy"], accuracy_ci_low=s["accuracy_ci_low"], accuracy_ci_high=s["accuracy_ci_high"],
                loop_s=s["wall_time_s"], startup_s=s["startup_s"], latency_p50_s=s.get("latency_p50", float("nan")),
                completion_tokens=int(s["completion_tokens"]), n=int(s["n"]), cached=int(s["n_cached"]),
                resumed=int(s["n_resumed"]), failed=int(s["n_failed"]))


def run(exp: str, cwd: Path, env: dict) -> dict:
    r = subprocess.run(command(exp), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0: sys.exit(f"llmforge run {exp} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return summary(cwd, exp)


def experiment(exp: str):
    return lambda rnd: run(exp, *home(rnd))


def cached_rerun(rnd):
    return run("gsm8k_cot", *home(rnd))


def resumed(rnd):
    cwd, env = home(rnd, ".llmforge-resume")
    proc = subprocess.Popen(command("triviaqa_cot"), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: proc.wait(timeout=a.interrupt_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT); proc.wait()
    on_disk = sum(1 for f in glob.glob(f"{env['LLMFORGE_HOME']}/runs/*/records.jsonl") for _ in open(f))
    return {"records_after_interrupt": on_disk, **run("triviaqa_cot", cwd, env)}


show = ("accuracy", "loop_s", "cached", "resumed", "records_after_interrupt")
c1 = bench.comparison("experiments", {e: experiment(e) for e in exps}, ratios=[], show=show)
c2 = bench.comparison("cache and resume", {"gsm8k_cot cached re-run": cached_rerun, "triviaqa_cot interrupted, resumed": resumed},
                      ratios=[], show=show)
bench.run(c1, c2)
bench.fact(workdir=str(WD))
bench.save()
