"""Render benchmarks/results/*.json (written by the harness) into one Markdown page, benchmarks/results/README.md.

    python benchmarks/render.py [--results DIR] [--out PATH]

Per benchmark: what it measures, the command that produced the result, when and on what machine and software, the
settings, and per comparison one table: a row per measurement, a column per variant (median over the rounds with
[min-max]) and, side by side, a column per ratio (computed within each round, then median [min-max]); then the facts
and any tables the script recorded. The page is generated: edit the scripts or re-run them, not the page.
"""
from __future__ import annotations
import argparse, json, re
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS = ["speed", "agreement", "retrieval", "comparison"]          # page order; other groups follow


def num(x) -> str:
    "About four significant figures (as the harness prints)."
    if isinstance(x, bool) or not isinstance(x, (int, float)): return str(x)
    if isinstance(x, int): return f"{x:,}"
    a = abs(x)
    return (f"{x:,.0f}" if a >= 1000 else f"{x:.1f}" if a >= 100 else f"{x:.2f}" if a >= 10 else f"{x:.3f}" if a >= 1
            else "0" if a == 0 else f"{x:.3g}")


def cell(s: dict, ratio: bool = False) -> str:
    f = (lambda x: f"{x:.3f}") if ratio else num
    if s["n"] == 1 or s["min"] == s["max"]: return f(s["median"])
    return f"{f(s['median'])} [{f(s['min'])}–{f(s['max'])}]"


def esc(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(map(esc, r)) + " |" for r in rows]


def anchor(title: str) -> str:
    "GitHub's heading anchor."
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def machine_line(m: dict) -> str:
    cores = f"{m.get('cores')} cores" + (f" ({m['usable_cores']} usable)" if m.get("usable_cores") != m.get("cores") else "")
    load = m.get("load_avg_start"), m.get("load_avg_end")
    load = f"; load average (1 min) {load[0][0]} at start, {load[1][0]} at end" if all(load) else ""
    return f"{m.get('cpu')}, {cores}, {m.get('ram_gib')} GiB RAM, {m.get('os')}{load}"


def software_line(m: dict) -> str:
    names = {"llama_cpp_python": "llama-cpp-python"}
    return f"Python {m.get('python')}, " + ", ".join(f"{names.get(k, k)} {v or '(not installed)'}" for k, v in m.get("versions", {}).items())


def run_line(r: dict) -> str:
    g = r.get("git")
    commit = "not in git" if not g else f"commit {g['commit'][:10]}" + (" with uncommitted changes" if g.get("dirty") else "")
    ts = r["timestamp"].replace("T", " ").replace("Z", " UTC")
    return f"{ts}; took {r['duration_s'] / 60:.1f} min; {commit}"


def fact_value(v) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return f"`{s}`" if len(s) <= 160 else "(long: see the JSON)"


def comparison(c: dict) -> list[str]:
    n = len(c["rounds"])
    out = [f"#### {c['title']}", "",
           f"{n} round{'s' * (n != 1)}, alternating order; median [min–max] over the rounds; ratios computed within each round."
           if n > 1 else "One round.", ""]
    variants, ratios = c["summary"]["variants"], c["summary"]["ratios"]
    measures = list(dict.fromkeys(k for ms in list(variants.values()) + list(ratios.values()) for k in ms))
    head = ["measurement", *variants, *ratios]
    rows = [[m, *(cell(variants[v][m]) if m in variants[v] else "" for v in variants),
             *(cell(ratios[r][m], ratio=True) if m in ratios[r] else "" for r in ratios)] for m in measures]
    return out + md_table(head, rows) + [""]


def section(r: dict) -> list[str]:
    title = f"{r['group']}/{r['benchmark']}"
    m = r["machine"]
    settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
    out = [f"### {title}", "", r["description"], ""]
    out += md_table(["", ""], [["command", f"`{r['command']}`"], ["run", run_line(r)], ["machine", machine_line(m)],
                               ["software", software_line(m)], ["settings", settings or "(none)"]]) + [""]
    for c in r["comparisons"]: out += comparison(c)
    if r.get("facts"):
        out += ["Facts:", ""] + [f"- {k}: {fact_value(v)}" for k, v in r["facts"].items()] + [""]
    for name, rows in r.get("tables", {}).items():
        if not rows: continue
        cols = list(dict.fromkeys(k for row in rows for k in row))
        out += [f"#### {name}", ""] + md_table(cols, [[str(row.get(k, "")) for k in cols] for row in rows]) + [""]
    return out


def render(results: Path) -> str:
    rs = []
    for f in sorted(results.glob("*.json")):
        try: r = json.loads(f.read_text())
        except json.JSONDecodeError as e: raise SystemExit(f"{f}: not JSON ({e})")
        if "comparisons" in r and "benchmark" in r: rs.append((f, r))
    order = lambda fr: (GROUPS.index(fr[1]["group"]) if fr[1]["group"] in GROUPS else len(GROUPS), fr[1]["group"], fr[1]["benchmark"])
    rs.sort(key=order)
    out = ["# Benchmark results", "",
           "Generated by `python benchmarks/render.py` from the JSON files beside this page (written by the scripts in",
           "`benchmarks/`, see [../README.md](../README.md)); do not edit by hand. Timings on a shared machine are noisy:",
           "compare variants measured side by side in one run (the ratio columns), not figures from different runs.", ""]
    if not rs: return "\n".join(out + ["No results yet: run a benchmark, then `python benchmarks/render.py`.", ""])
    out += ["Contents:", ""]
    out += [f"- [{r['group']}/{r['benchmark']}](#{anchor(r['group'] + '/' + r['benchmark'])}) ({f.name})" for f, r in rs] + [""]
    group = None
    for f, r in rs:
        if r["group"] != group:
            group = r["group"]; out += [f"## {group}", ""]
        out += section(r)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(HERE / "results"), help="folder of result JSON files (default benchmarks/results)")
    p.add_argument("--out", default=None, help="page to write (default RESULTS/README.md)")
    a = p.parse_args()
    out = Path(a.out or Path(a.results) / "README.md")
    out.write_text(render(Path(a.results)))
    print(f"wrote {out}")
