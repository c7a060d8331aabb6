"""The fixed cost of `llmforge run`: what a run costs beyond its loop, measured where a user feels it, end to end.

    python benchmarks/speed/fixed_cost.py [--rounds 3] [--before REV] [--arms 2 6]

1. Cached quickstart: `llmforge run params/quickstart.yaml` a second time (every response from the cache), end to end,
   for three variants side by side in each round: `before` (the code at `--before`, run from a git worktree of that
   revision: one Jupyter kernel per run), `kernel` (this code with `--kernel python3`) and `in-process` (this code as
   users run it: the notebook's cells run in the driver's process). Ratios: each over `before`, within each round.
   The breakdown of each run comes from the executed notebook (papermill's per-cell durations, the notebook's own wall
   time) and the rest of the driver.
2. A study's per-arm overhead: a study of `--arms` sizes (mock engine, quickstart items, cached), end to end; the
   per-arm cost is the slope (t_large - t_small) / (large - small), for the `kernel` and `in-process` variants.
"""
import sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, REPO

bench = Bench(__doc__, rounds=3)
bench.parser.add_argument("--before", default="13c17a6", help="revision to compare against (default: the last one before the fixed-cost work)")
bench.parser.add_argument("--arms", type=int, nargs=2, default=[2, 6], help="study sizes for the per-arm slope")
a = bench.parse()

import json, os, shutil, subprocess, time

WORK = Path(tempfile.mkdtemp(prefix="llmforge-fixed-cost-"))
OLD = WORK / "before"
subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(OLD), a.before], check=True, capture_output=True)

def cli(tree: Path | None) -> list[str]:
    "The command line of `llmforge` from `tree` (None: the installed package)."
    if tree is None: return [shutil.which("llmforge") or "llmforge"]
    return [sys.executable, "-c", "import sys; from llmforge.pipeline.cli import main; sys.exit(main())"]

def env(tree: Path | None, home: Path) -> dict:
    e = {**os.environ, "LLMFORGE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    if tree is not None: e["PYTHONPATH"] = str(tree)        # the kernel inherits it: the old tree's package on both sides
    return e

def timed_run(name: str, tree: Path | None, extra: list[str], params: Path, wd: Path) -> dict:
    home = wd / "home"
    t = time.perf_counter()
    p = subprocess.run(cli(tree) + ["run", str(params), "--quiet", *extra], cwd=wd, env=env(tree, home),
                       capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    assert p.returncode == 0, f"{name}: {p.stdout}{p.stderr}"
    nb = json.loads(max((wd / "reports").glob("*.ipynb"), key=lambda q: q.stat().st_mtime).read_text())
    cells = {}
    for c in nb["cells"]:
        d = (c.get("metadata", {}).get("papermill") or {}).get("duration")
        if c["cell_type"] == "code" and d: cells[c["source"] if isinstance(c["source"], str) else "".join(c["source"])] = d
    top = sorted(cells.items(), key=lambda kv: -kv[1])[:3]
    notebook = nb["metadata"]["papermill"].get("duration") or 0.0
    return {"s": wall, "notebook_s": notebook, "cells_s": sum(cells.values()), "driver_s": wall - notebook,
            "_top_cells": [(src.strip().splitlines()[0][:60], round(d, 2)) for src, d in top]}

VARIANTS = {"before": (OLD, []), "kernel": (None, ["--kernel", "python3"]), "in-process": (None, [])}
QS = {}
for name, (tree, extra) in VARIANTS.items():          # a working folder each, warmed once: every response cached
    wd = WORK / f"qs-{name}"; wd.mkdir()
    params = (tree or REPO) / "params" / "quickstart.yaml"
    timed_run(name, tree, extra, params, wd)
    QS[name] = (tree, extra, params, wd)

def qs_variant(name):
    tree, extra, params, wd = QS[name]
    return lambda rnd: timed_run(name, tree, extra, params, wd)

STUDY = """study: fc{k}
base: {{model: mock, engine: mock, dataset: quickstart, n: 20}}
arms: {{{arms}}}
tracking: {{experiment: fixed-cost}}
"""
ST = {}
for name in ("kernel", "in-process"):
    tree, extra = VARIANTS[name]
    for k in a.arms:
        wd = WORK / f"study-{name}-{k}"; wd.mkdir()
        arms = ", ".join(f"a{i}: {{seed: {i}}}" for i in range(k))
        (wd / "study.yaml").write_text(STUDY.format(k=k, arms=arms))
        timed_run(name, tree, extra, wd / "study.yaml", wd)
        ST[(name, k)] = (tree, extra, wd)

def study_variant(name):
    small, large = a.arms
    def go(rnd):
        t = {k: timed_run(name, ST[(name, k)][0], ST[(name, k)][1], ST[(name, k)][2] / "study.yaml", ST[(name, k)][2])["s"]
             for k in (small, large)}
        return {"s": t[large], f"study_{small}_arms_s": t[small], f"study_{large}_arms_s": t[large],
                "per_arm_s": (t[large] - t[small]) / (large - small)}
    return go

try:
    qs = bench.comparison("cached quickstart, end to end", {n: qs_variant(n) for n in VARIANTS})
    st = bench.comparison("study per-arm overhead (mock engine, cached)", {n: study_variant(n) for n in ("kernel", "in-process")},
                          ratio_of=["per_arm_s"])
    bench.run(qs, st)
    bench.fact(before_revision=a.before, targets={"cached_quickstart_s": 5.0, "per_arm_s": 3.0})
    bench.save()
finally:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(OLD)], capture_output=True)
    shutil.rmtree(WORK, ignore_errors=True)
