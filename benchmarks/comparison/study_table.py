"""Study tables: per arm of a study's comparison report (reports/<study>-<run>.json), accuracy with its bootstrap and
Wilson intervals, the paired test against the baseline (p, Holm p, fixed/broke, MDE), latency and tokens.

    llmforge run params/study_gsm8k.yaml params/study_triviaqa.yaml
    python benchmarks/comparison/study_table.py reports/gsm8k_methods-*.json reports/triviaqa_methods-*.json

Prints one Markdown table per comparison report (other JSON files are skipped) and keeps them in the result JSON, so the
results page shows them. Nothing is run or timed here (`--rounds` has no effect).
"""
import json, math, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench

bench = Bench(__doc__)
bench.parser.add_argument("reports", nargs="+", help="comparison report JSON files (reports/<study>-<run>.json)")
a = bench.parse()

from llmforge.eval.stats import wilson_interval

COLUMNS = ["arm", "accuracy [95% bootstrap]", "Wilson 95%", "vs baseline: diff [paired 95% CI]", "McNemar p (Holm)",
           "fixed / broke", "MDE", "latency p50 / p95 (s)", "generated tokens (per item)", "loop time (s)"]


def rows(j: dict) -> list[dict]:
    paired = {(p["label_b"], p["metric"]): p for p in j["paired"]}
    out = []
    for lab, r in j["runs"].items():
        s, n = r["summary"], int(r["summary"]["n"])
        w = wilson_interval(round(s["accuracy"] * n), n)
        p = paired.get((lab, "accuracy"))
        vs = ("baseline", "", "", "") if p is None else (
            f"{100 * p['diff']:+.1f} pts [{100 * p['diff_low']:+.1f}, {100 * p['diff_high']:+.1f}]",
            f"{p['pvalue']:.3g} ({p['p_holm']:.3g})", f"{p['n_b_only']} / {p['n_a_only']}",
            "∞" if math.isinf(p["mde"]) else f"{100 * p['mde']:.1f} pts")
        out.append(dict(zip(COLUMNS, [
            lab, f"{100 * s['accuracy']:.1f}% [{100 * s['accuracy_ci_low']:.1f}, {100 * s['accuracy_ci_high']:.1f}]",
            f"[{100 * w.low:.1f}, {100 * w.high:.1f}]", *vs,
            f"{s.get('latency_p50', math.nan):.2f} / {s.get('latency_p95', math.nan):.2f}",
            f"{int(s['completion_tokens']):,} ({s['completion_tokens'] / n:.0f})", f"{s.get('wall_time_s', math.nan):.0f}"])))
    return out


def markdown(rs: list[dict]) -> str:
    return "\n".join(["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
                     + ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rs])


for f in a.reports:
    if not re.search(r"-[0-9a-f]{8}\.json$", f): continue
    j = json.loads(Path(f).read_text())
    if "paired" not in j: continue
    rs = rows(j)
    bench.table(Path(f).stem, rs)
    print(f"\n{Path(f).stem}\n\n{markdown(rs)}")
if not bench.tables: bench.parser.error("no comparison report among the files given (reports/<study>-<run>.json with 'paired')")
bench.save()
