"""The benchmark harness: what every script in benchmarks/ shares, in one place.

A script in a group folder (benchmarks/<group>/<script>.py) starts with

    import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from harness import Bench

(that one line makes benchmarks/ importable, so the script runs as `python benchmarks/<group>/<script>.py` from the repo
root or from any other directory), and then

    bench = Bench(__doc__, rounds=2)                      # common options: --rounds R, --out PATH, --quiet
    bench.parser.add_argument("--n", type=int, default=50)  # the script's own options
    a = bench.parse()
    ...one-time set-up (load a model), reported with bench.fact(startup_s=...)...
    bench.compare("runner vs bare loop", {"bare": bare, "runner": runner})
    bench.save()                                          # benchmarks/results/<script>.json, or --out

- A *variant* is a callable `f(round) -> None | float | dict` (round counts from 1). The harness times each call; a
  float is taken as the variant's own time in seconds, a dict as named measurements (numbers are summarised; other
  JSON values are kept raw; keys starting with "_", such as outputs kept for an agreement check, stay in memory only).
  `s` is the call's wall time unless the variant reports its own `s`.
- A *comparison* runs its variants in rounds; odd rounds in the given order, even rounds reversed (A B, B A, A B, ...;
  A B C, C B A, ...), so that no variant always runs first and a linear drift of the machine hits all alike.
  `bench.compare(...)` runs one comparison's rounds; `bench.run(c1, c2)` interleaves several, round by round, for
  comparisons built with `bench.comparison(...)`.
- Summary: for each variant and measurement the median, min and max over the rounds; for each ratio (by default every
  variant over the first, the baseline; or `ratios=[(a, b), ...]`; `ratio_of=` picks the measurements) the ratio is
  computed *within each round* and then its median, min and max are taken. `percentiles()` is the one way latency
  percentiles are computed (numpy's default, linear interpolation).
- `bench.fact(key=value)` records one-time figures and checks; `bench.table(title, rows)` a table of rows (dicts).
- The JSON holds the command line, the git commit, a UTC timestamp, the machine (CPU model, cores, usable cores, RAM,
  Python and library versions, load average at start and end), the settings, every round's raw numbers and the summary.
  `python benchmarks/render.py` turns benchmarks/results/*.json into benchmarks/results/README.md.

Importing the harness sets HF_HUB_OFFLINE=1 (no hub look-ups) and drops LLMFORGE_DATA_DIR, so every benchmark reads the
benchmark subsets shipped in the repository (data/benchmarks, through llmforge.core.paths.data_dir()).
"""
from __future__ import annotations
import argparse, datetime, json, math, os, platform, shlex, subprocess, sys, time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
if os.environ.pop("LLMFORGE_DATA_DIR", None):
    print("[harness] LLMFORGE_DATA_DIR ignored: benchmarks read the subsets shipped in data/benchmarks", file=sys.stderr)


# ------------------------------------------------------------------ numbers

def percentiles(xs, ps=(50, 95)) -> dict[str, float]:
    "Percentiles of `xs` as {'p50': ..., 'p95': ...} (numpy, linear interpolation)."
    xs = np.asarray(xs, dtype=float)
    return {f"p{p:g}": float(np.percentile(xs, p)) for p in ps}


def spread(xs) -> dict:
    "Median, min and max of a list of numbers (and how many); counts stay integers where they can."
    ints = all(isinstance(x, (int, np.integer)) for x in xs)
    xs = [int(x) if ints else float(x) for x in xs]
    med = float(np.median(xs))
    return dict(median=int(med) if ints and med.is_integer() else med, min=min(xs), max=max(xs), n=len(xs))


def is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


class timer:
    "with timer() as t: ...  then t.s is the elapsed wall time in seconds."
    def __enter__(self): self.t0 = time.perf_counter(); return self
    def __exit__(self, *exc): self.s = time.perf_counter() - self.t0


# ------------------------------------------------------------------ where and on what

def _version(dist: str) -> str | None:
    try: return version(dist)
    except PackageNotFoundError: return None


def machine() -> dict:
    "The machine a result was measured on."
    cpu = next((l.split(":", 1)[1].strip() for l in _read("/proc/cpuinfo").splitlines() if l.startswith("model name")),
               platform.processor() or platform.machine())
    mem = next((int(l.split()[1]) for l in _read("/proc/meminfo").splitlines() if l.startswith("MemTotal:")), None)
    return dict(cpu=cpu, cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                ram_gib=round(mem / 2**20, 1) if mem else None, python=platform.python_version(), os=platform.platform(),
                versions={d: _version(d) for d in ("llmforge", "llama_cpp_python", "torch", "numpy")})


def _read(path: str) -> str:
    try: return Path(path).read_text()
    except OSError: return ""


def git_info() -> dict | None:
    "The commit of the checkout and whether the work tree differs from it (None outside git)."
    def git(*args):
        r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else None
    try:
        commit = git("rev-parse", "HEAD")
        return None if commit is None else dict(commit=commit, dirty=bool(git("status", "--porcelain", "--untracked-files=no")))
    except (OSError, subprocess.SubprocessError): return None


def _shown(script: Path) -> str:
    "The script's path relative to the repository root (how the page shows it), else as given."
    return str(script.relative_to(REPO)) if script.is_relative_to(REPO) else str(script)


def _command(script: Path) -> str:
    return shlex.join(["python", _shown(script), *sys.argv[1:]])


# ------------------------------------------------------------------ comparisons

class Comparison:
    "Variants run in alternating rounds; raw numbers per round; summary and per-round ratios on demand."

    def __init__(self, bench: "Bench", title: str, variants: dict[str, Callable], baseline: str | None = None,
                 ratios: list[tuple[str, str]] | None = None, ratio_of: tuple[str, ...] | None = None,
                 show: tuple[str, ...] | None = None):
        self.bench, self.title, self.variants = bench, title, dict(variants)
        self.baseline = baseline or next(iter(self.variants))
        self.ratios = ([(v, self.baseline) for v in self.variants if v != self.baseline] if ratios is None else list(ratios))
        self.ratio_of, self.show = ratio_of, show
        self.rounds: list[dict] = []         # [{"round": 1, "order": [...], variant: {measurement: value}}]

    def run_round(self, rnd: int) -> dict:
        names = list(self.variants)
        order = names if rnd % 2 == 1 else names[::-1]
        row = {"round": rnd, "order": order}
        for name in order:
            t0 = time.perf_counter()
            out = self.variants[name](rnd)
            s = time.perf_counter() - t0
            m = {} if out is None else {"s": float(out)} if is_number(out) else dict(out)
            m.setdefault("s", s)
            row[name] = m
        self.rounds.append(row)
        line = "; ".join(f"{v} " + ", ".join(f"{k} {fmt(x)}" for k, x in self._printed(row[v]).items()) for v in order)
        rr = self._round_ratios(row)
        line += "".join(f"; {r} " + ", ".join(f"{k} {x:.3f}" for k, x in ms.items()) for r, ms in rr.items())
        self.bench.log(f"[{self.title}] round {rnd}: {line}")
        return row

    def _printed(self, m: dict) -> dict:
        return {k: v for k, v in m.items() if is_number(v) and not k.startswith("_") and (self.show is None or k in self.show)}

    def _round_ratios(self, row: dict) -> dict:
        out = {}
        for a, b in self.ratios:
            ma, mb = row.get(a, {}), row.get(b, {})
            keys = [k for k in ma if is_number(ma.get(k)) and is_number(mb.get(k)) and not k.startswith("_")
                    and (self.ratio_of is None or k in self.ratio_of) and mb[k] != 0]
            if keys: out[f"{a} / {b}"] = {k: ma[k] / mb[k] for k in keys}
        return out

    def summary(self) -> dict:
        "Per variant and measurement: median/min/max over rounds; per ratio and measurement: the same of per-round ratios."
        variants = {}
        for v in self.variants:
            keys = dict.fromkeys(k for row in self.rounds for k, x in row.get(v, {}).items() if is_number(x) and not k.startswith("_"))
            variants[v] = {k: spread([row[v][k] for row in self.rounds if is_number(row.get(v, {}).get(k))]) for k in keys}
        ratios: dict[str, dict] = {}
        for row in self.rounds:
            for r, ms in self._round_ratios(row).items():
                for k, x in ms.items(): ratios.setdefault(r, {}).setdefault(k, []).append(x)
        ratios = {r: {k: {**spread(xs), "each": xs} for k, xs in ms.items()} for r, ms in ratios.items()}
        return dict(variants=variants, ratios=ratios)

    def to_json(self) -> dict:
        raw = [{k: ({mk: mv for mk, mv in v.items() if not mk.startswith("_")} if isinstance(v, dict) else v)
                for k, v in row.items()} for row in self.rounds]
        return dict(title=self.title, variants=list(self.variants), baseline=self.baseline,
                    ratios=[f"{a} / {b}" for a, b in self.ratios], rounds=raw, summary=self.summary())


def fmt(x) -> str:
    "A number with about four significant figures."
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool): return f"{x:,}"
    if not is_number(x): return str(x)
    a = abs(x)
    return (f"{x:,.0f}" if a >= 1000 else f"{x:.1f}" if a >= 100 else f"{x:.2f}" if a >= 10 else f"{x:.3f}" if a >= 1
            else "0" if a == 0 else f"{x:.3g}")


# ------------------------------------------------------------------ the benchmark

class Bench:
    "One benchmark script: its options, its comparisons, facts and tables, and its JSON result."

    def __init__(self, doc: str | None, *, rounds: int = 1, name: str | None = None, file: str | None = None):
        caller = Path(file or sys.modules["__main__"].__file__).resolve()
        self.script, self.name, self.group = caller, name or caller.stem, caller.parent.name
        self.doc = (doc or "").strip()
        self.description = " ".join(self.doc.split("\n\n")[0].split())
        self.parser = argparse.ArgumentParser(prog=f"python {_shown(caller)}", description=self.doc,
                                              formatter_class=argparse.RawDescriptionHelpFormatter)
        g = self.parser.add_argument_group("harness")
        g.add_argument("--rounds", type=int, default=rounds, metavar="R",
                       help=f"rounds of every comparison, alternating which variant runs first (default {rounds})")
        g.add_argument("--out", default=None, metavar="PATH", help=f"result JSON (default benchmarks/results/{self.name}.json)")
        g.add_argument("--quiet", action="store_true", help="print only the summary, not every round")
        self.args = None
        self.comparisons: list[Comparison] = []
        self.facts: dict = {}
        self.tables: dict[str, list[dict]] = {}
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.t0 = time.perf_counter()
        self.load_start = os.getloadavg()

    def parse(self, argv=None) -> argparse.Namespace:
        self.args = self.parser.parse_args(argv)
        if self.args.rounds < 1: self.parser.error("--rounds must be >= 1")
        return self.args

    def alias(self, old: str, dest: str = "rounds", type=int):
        "Accept an option's old name (e.g. --repeats for --rounds)."
        self.parser.add_argument(old, dest=dest, type=type, default=argparse.SUPPRESS, help=f"the old name of --{dest.replace('_', '-')}")

    def log(self, *msg, **kw):
        if not (self.args and self.args.quiet): print(*msg, **{"flush": True, **kw})

    def comparison(self, title: str, variants: dict[str, Callable], **opts) -> Comparison:
        "A comparison to run later with bench.run(); opts: baseline, ratios, ratio_of, show."
        c = Comparison(self, title, variants, **opts)
        self.comparisons.append(c)
        return c

    def run(self, *comparisons: Comparison, rounds: int | None = None):
        "Run the comparisons' rounds, round by round (round 1 of each, then round 2 of each, ...)."
        for rnd in range(1, (rounds or self.args.rounds) + 1):
            for c in comparisons: c.run_round(rnd)
        return comparisons

    def compare(self, title: str, variants: dict[str, Callable], rounds: int | None = None, **opts) -> Comparison:
        "Build one comparison and run all its rounds."
        c = self.comparison(title, variants, **opts)
        self.run(c, rounds=rounds)
        return c

    def fact(self, **kw):
        "One-time figures and checks (start-up time, identical outputs, a target met)."
        self.facts.update(kw)

    def table(self, title: str, rows: list[dict]):
        self.tables[title] = rows

    def result(self) -> dict:
        a = {k: v for k, v in vars(self.args).items() if k not in ("out", "quiet")} if self.args else {}
        return dict(benchmark=self.name, group=self.group, script=_shown(self.script),
                    description=self.description, command=_command(self.script), argv=sys.argv, git=git_info(),
                    timestamp=self.started.strftime("%Y-%m-%dT%H:%M:%SZ"), duration_s=round(time.perf_counter() - self.t0, 1),
                    machine={**machine(), "load_avg_start": [round(x, 2) for x in self.load_start],
                             "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
                    settings=a, comparisons=[c.to_json() for c in self.comparisons], facts=self.facts, tables=self.tables)

    def save(self) -> Path:
        "Print the summary and write the JSON result; returns its path."
        res = self.result()
        for c in res["comparisons"]:
            n = len(c["rounds"])
            print(f"-- {c['title']}: median [min-max] over {n} round{'s' * (n != 1)}")
            for v, ms in c["summary"]["variants"].items():
                print(f"  {v:24s} " + "  ".join(f"{k} {fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]" for k, s in ms.items()))
            for r, ms in c["summary"]["ratios"].items():
                print(f"  {r:24s} " + "  ".join(f"{k} {s['median']:.3f} [{s['min']:.3f}-{s['max']:.3f}]" for k, s in ms.items()))
        for k, v in self.facts.items(): print(f"  {k}: {v if len(str(v)) <= 200 else '(long: see the JSON)'}")
        out = Path(self.args.out) if self.args and self.args.out else RESULTS / f"{self.name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1, default=_json_default) + "\n")
        print(f"result: {out}")
        return out


def _json_default(x):
    if isinstance(x, (np.integer,)): return int(x)
    if isinstance(x, (np.floating,)): return float(x)
    if isinstance(x, np.ndarray): return x.tolist()
    if isinstance(x, Path): return str(x)
    return str(x)
