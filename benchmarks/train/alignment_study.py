"""The DPO alignment study end to end: what LoRA DPO on HH-RLHF harmless pairs changes in SmolLM2-135M-Instruct.

`params/study_dpo_hh.yaml` (beta 0.05 / 0.1 / 0.2 x the first 200 / 500 / 800 training pairs), each arm against the
base on the same items: implicit-reward preference accuracy on the 100 held-out test pairs, verbosity (greedy replies
to the 100 held-out HH prompts) and factuality (TriviaQA, 300 items), paired differences with 95% CIs and
Holm-adjusted p-values; and the training curves of the three 800-pair runs (the 200- and 500-pair arms are their
snapshots). The study is run by the project's own commands in `--workdir`; re-running resumes (trained arms and
scored models are not redone).

    python benchmarks/train/alignment_study.py --workdir ~/alignment    # prep + train + evaluate: hours on 2 cores
    python benchmarks/train/alignment_study.py --workdir ~/alignment --collect   # only read the finished study
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench
import json, subprocess

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"preference/preference_accuracy": "preference accuracy", "preference/likelihood_accuracy": "likelihood preference",
         "responses/response_tokens": "reply tokens", "responses/hit_max_tokens": "replies cut at max_tokens",
         "triviaqa/accuracy": "TriviaQA accuracy", "triviaqa/exact_match": "TriviaQA exact match",
         "triviaqa/f1": "TriviaQA F1", "triviaqa/contains": "TriviaQA contains"}
CURVE = ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected")


def newest(workdir: Path, pattern: str, want) -> Path:
    found = [p for p in sorted((workdir / "reports").glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True) if want(p)]
    if not found: sys.exit(f"--workdir: no {pattern} report in {workdir / 'reports'} (run without --collect first)")
    return found[0]


if __name__ == "__main__":
    bench = Bench(__doc__)
    p = bench.parser
    p.add_argument("--workdir", required=True, type=Path, help="folder for the prepared data, the runs, reports and mlflow.db")
    p.add_argument("--collect", action="store_true", help="do not run anything: read the newest study report in --workdir")
    a = bench.parse()
    a.workdir.mkdir(parents=True, exist_ok=True)
    if not a.collect:
        if not (a.workdir / "prepared" / "hh_dpo" / "train.jsonl").is_file():
            subprocess.run(["llmforge", "prep", str(ROOT / "params" / "prep_hh_dpo.yaml")], cwd=a.workdir, check=True)
        subprocess.run(["llmforge", "train", str(ROOT / "params" / "study_dpo_hh.yaml")], cwd=a.workdir, check=True)
    rep = newest(a.workdir, "dpo_hh_alignment-*.json", lambda p: "table" in json.loads(p.read_text()))
    study = json.loads(rep.read_text())
    from llmforge.eval.compare import fmt_change
    first = study["table"][0]
    rows = [{"arm": "base", **{name: f"{first[k]['base']:.3g}" for k, name in SHORT.items() if k in first}}]
    for r in study["table"]:                # the arm's mean (difference from the base [95% CI], Holm-adjusted p)
        rows.append({"arm": r["arm"], **{name: f"{v['arm']:.3g} ({fmt_change(k, v['diff'])} [{fmt_change(k, v['low'])}, "
                                               f"{fmt_change(k, v['high'])}], p {v['p_holm']:.2g})"
                                         for k, name in SHORT.items() if (v := r.get(k))}})
    bench.table("each arm against the base: mean (paired difference [95% CI], Holm-adjusted p)", rows)
    bench.fact(tests={SHORT[k]: v["test"] for k, v in first.items() if k in SHORT}, items={SHORT[k]: v["n"] for k, v in first.items() if k in SHORT})
    curves = []
    for beta in ("0.05", "0.1", "0.2"):
        tr = json.loads(newest(a.workdir, f"dpo_hh_alignment-train_size-800_beta-{beta}-*.json", lambda p: True).read_text())
        for h in tr["log_history"]:
            if "loss" in h and "step" in h:
                curves.append({"beta": float(beta), "step": h["step"], **{k: round(h[k], 4) for k in CURVE if k in h}})
        ev = next((h for h in tr["log_history"] if "eval_loss" in h), {})
        bench.fact(**{f"beta {beta}: validation": {k[5:]: round(ev[k], 4) for k in ("eval_loss", *(f"eval_{c}" for c in CURVE[1:])) if k in ev},
                      f"beta {beta}: train seconds": round(tr["card"].get("metrics", {}).get("train_wall_s", 0), 1),
                      f"beta {beta}: resumed from": tr["card"].get("resumed_from")})
    bench.table("training curves of the 800-pair runs (10 pairs per optimizer step)", curves)
    bench.fact(report=rep.name, findings=study.get("findings"), table=study["table"])
    bench.save()
