"""Print a markdown table of a comparison report's JSON (reports/<study>-<run>.json): per arm accuracy with its bootstrap
and Wilson intervals, the paired test against the baseline (p, Holm p, fixed/broke, MDE), latency and tokens.

    llmforge run params/study_gsm8k.yaml params/study_triviaqa.yaml
    python benchmarks/study_table.py reports/gsm8k_methods-*.json reports/triviaqa_methods-*.json
"""
import json, math, re, sys
from pathlib import Path
from llmforge.eval.stats import wilson_interval

def table(path: str) -> str:
    j = json.loads(Path(path).read_text())
    paired = {(p["label_b"], p["metric"]): p for p in j["paired"]}
    rows = ["| arm | accuracy [95% bootstrap] | Wilson 95% | vs baseline: diff [paired 95% CI] | McNemar p (Holm) | fixed / broke "
            "| MDE | latency p50 / p95 (s) | generated tokens (per item) | loop time (s) |", "|" + "---|" * 10]
    for lab, r in j["runs"].items():
        s, n = r["summary"], int(r["summary"]["n"])
        w = wilson_interval(round(s["accuracy"] * n), n)
        p = paired.get((lab, "accuracy"))
        vs = ("baseline", "", "", "") if p is None else (
            f"{100 * p['diff']:+.1f} pts [{100 * p['diff_low']:+.1f}, {100 * p['diff_high']:+.1f}]",
            f"{p['pvalue']:.3g} ({p['p_holm']:.3g})", f"{p['n_b_only']} / {p['n_a_only']}",
            "∞" if math.isinf(p["mde"]) else f"{100 * p['mde']:.1f} pts")
        rows.append(f"| {lab} | {100 * s['accuracy']:.1f}% [{100 * s['accuracy_ci_low']:.1f}, {100 * s['accuracy_ci_high']:.1f}] "
                    f"| [{100 * w.low:.1f}, {100 * w.high:.1f}] | " + " | ".join(vs)
                    + f" | {s.get('latency_p50', math.nan):.2f} / {s.get('latency_p95', math.nan):.2f} "
                    f"| {int(s['completion_tokens']):,} ({s['completion_tokens'] / n:.0f}) | {s.get('wall_time_s', math.nan):.0f} |")
    return "\n".join(rows)

if __name__ == "__main__":
    for f in sys.argv[1:]:
        if re.search(r"-[0-9a-f]{8}\.json$", f) and "paired" in json.loads(Path(f).read_text()):
            print(f"\n{Path(f).stem}\n\n{table(f)}")
