"""Answer-correctness metrics against human judgement: each QA metric's verdicts on SmolLM2-135M-Instruct's answers compared with hand labels (data/labels/: the quickstart set and 40 items each of TriviaQA, HotpotQA and StrategyQA), as percent agreement and Cohen's kappa; no model runs, the labelled answers are scored as they are.

    python benchmarks/agreement/metric_vs_labels.py [--sets quickstart,triviaqa,hotpotqa,strategyqa] [--labels DIR]

Metrics: `accuracy` is the headline (`correct`: `answer_match` for qa items, `numeric_match` for math items);
`previous headline` is what `correct` was before (`exact_match` for qa, `numeric_match` for math); `exact_match`,
`contains` and `f1 >= 0.5` (token F1 thresholded at one half) are the strict and lenient companions, scored on every item;
`answer_match` and `numeric_match` on the items of their task only. A label is the human verdict (correct / incorrect);
agreement is the share of items where a metric's verdict equals it; kappa corrects that for chance (0 when a metric says
the same thing of every item; n/a when labels and verdicts are one and the same constant).
"""
import sys; from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # benchmarks/: harness, _prompts
from harness import Bench

from llmforge.core.types import Example, Prediction
from llmforge.eval.scoring import (answer_match, contains, exact_match, label_agreement, load_labels, numeric_match,
                                   score_example, token_f1)

bench = Bench(__doc__, rounds=1)
bench.parser.add_argument("--sets", default="quickstart,triviaqa,hotpotqa,strategyqa", help="labelled sets (data/labels/<set>_labels.jsonl)")
bench.parser.add_argument("--labels", default=None, help="folder of <set>_labels.jsonl files (default: the package's data/labels)")
bench.parser.add_argument("--target", type=float, default=0.95, help="the headline's minimum agreement on the quickstart set")
a = bench.parse()

def verdicts(r: dict) -> dict[str, bool | None]:
    "Each metric's verdict on one labelled answer (None where the metric does not apply to the item's task)."
    e, p, g = Example(r["id"], r["question"], r["gold"], task=r["task"]), Prediction(r["answer"]), r["gold"]
    qa = r["task"] == "qa"
    return {"accuracy": score_example(e, p)[1],
            "previous headline": (exact_match(r["answer"], g) if qa else numeric_match(r["answer"], g)) == 1.0,
            "answer_match": answer_match(r["answer"], g, r["question"]) == 1.0 if qa else None,
            "numeric_match": numeric_match(r["answer"], g) == 1.0 if not qa else None,
            "exact_match": exact_match(r["answer"], g) == 1.0,
            "contains": contains(r["answer"], g) == 1.0,
            "f1 >= 0.5": token_f1(r["answer"], g) >= 0.5}

def pct(x): return "n/a" if x != x else f"{100 * x:.1f}%"
def kap(x): return "n/a" if x != x else f"{x:.3f}"

sets = {s: load_labels(s, a.labels) for s in a.sets.split(",")}
rows, misses, by_set = [], [], {}
for name, labelled in [*sets.items(), ("all", [r for rs in sets.values() for r in rs])]:
    vs = [verdicts(r) for r in labelled]
    for metric in vs[0]:
        pairs = [(r["label"] == "correct", v[metric]) for r, v in zip(labelled, vs) if v[metric] is not None]
        if not pairs: continue
        ag = label_agreement([h for h, _ in pairs], [m for _, m in pairs])
        by_set.setdefault(name, {})[metric] = ag
        rows.append({"set": name, "metric": metric, "items": len(pairs), "labelled correct": sum(h for h, _ in pairs),
                     "metric says correct": sum(m for _, m in pairs), "agreement": pct(ag["agreement"]), "kappa": kap(ag["kappa"]),
                     "false accepts": sum(m and not h for h, m in pairs), "false rejects": sum(h and not m for h, m in pairs)})
    if name != "all":
        misses += [{"set": name, "id": r["id"], "label": r["label"], "headline": "correct" if v["accuracy"] else "incorrect",
                    "answer": r["answer"][:90], "reason": r["reason"]} for r, v in zip(labelled, vs)
                   if v["accuracy"] != (r["label"] == "correct")]
    bench.log(f"{name:11s} " + "  ".join(f"{m} {pct(x['agreement'])} (k {kap(x['kappa'])})" for m, x in by_set[name].items()))

bench.table("agreement with the hand labels", rows)
bench.table("items where the headline disagrees with the label", misses)
src = {r["source"]["model"] + " " + r["source"]["method"] + " " + r["source"]["model_sha256"][:12] for rs in sets.values() for r in rs}
head = by_set["quickstart"]["accuracy"] if "quickstart" in by_set else None
bench.fact(labelled_items={k: len(v) for k, v in sets.items()}, answers_from=sorted(src),
           headline="accuracy: answer_match for qa items, numeric_match for math items")
if head is not None:
    bench.fact(target=f"headline agreement on quickstart >= {a.target:.0%}", headline_quickstart_agreement=round(head["agreement"], 4),
               headline_quickstart_kappa=round(head["kappa"], 4), target_met=bool(head["agreement"] >= a.target))
bench.save()
