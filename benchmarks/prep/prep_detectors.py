"""Precision and recall of the `llmforge prep` detectors on the labelled dirty file (`data/labels/prep_dirty.jsonl`,
551 rows; how it was built and what each label means: `data/labels/PREP_DIRTY.md`).

- PII, per entity type, at the entity level: a labelled value counts as found when a finding of the same type overlaps
  it in the same field; a finding that overlaps no labelled value of its type is a false positive. Swept over the
  scanner's score threshold.
- Exact duplicates, as pairs: a row flagged as the duplicate of another is right when the labels pair the two rows
  (`exact_dup_of`; the file is shuffled, so the copy may come first).
- Near-duplicates, as the pipeline runs them (after exact duplicates are removed), as pairs: each removed row with the
  row of its cluster that was kept, against the pairs labelled `near_dup_of` (and any exact pair the exact stage
  missed). Swept over the Jaccard threshold.
- Contamination: rows flagged as containing a benchmark question against the rows labelled `contaminated` (and the
  benchmark named must be right).

    python benchmarks/prep/prep_detectors.py
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, REPO, timer
import json
from collections import Counter, defaultdict

bench = Bench(__doc__, rounds=1)
a = bench.parse()

from llmforge.prep.pii import PiiScanner, DEFAULT_ENTITIES
from llmforge.prep.dedup import exact_duplicates, near_duplicates, Decontaminator, benchmark_items, DEFAULT_N

rows = [json.loads(l) for l in (REPO / "data/labels/prep_dirty.jsonl").read_text().splitlines()]
ids = {r["id"]: i for i, r in enumerate(rows)}
FIELDS = ("instruction", "input", "output")
text = lambda r: "\n".join(r[f] for f in FIELDS if r[f])            # as the pipeline joins a row's texts

def prf(tp, fp, fn) -> dict:
    p = tp / (tp + fp) if tp + fp else None
    rec = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * rec / (p + rec) if p and rec else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3) if p is not None else None,
            "recall": round(rec, 3) if rec is not None else None, "f1": round(f1, 3) if f1 is not None else None}

# ---------------------------------------------------------------- PII
texts, where = [], []
for i, r in enumerate(rows):
    for f in FIELDS:
        if r[f]: texts.append(r[f]); where.append((i, f))
gold = defaultdict(list)                                             # (row, field) -> [(type, start, end)]
for i, r in enumerate(rows):
    for p in r["labels"]["pii"]:
        s = r[p["field"]].find(p["text"])
        gold[(i, p["field"])].append((p["type"], s, s + len(p["text"])))

scanner = PiiScanner(threshold=0.0)
with timer() as t: found = scanner.scan(texts)
bench.fact(pii_scan_s=round(t.s, 2), pii_texts=len(texts), ner_model=scanner.ner_model_name, pii_checked=scanner.checked)

def pii_scores(threshold: float) -> dict:
    c = {e: Counter() for e in DEFAULT_ENTITIES}
    for (i, f), fs in zip(where, found):
        g = gold.get((i, f), [])
        hit = set()
        for x in fs:
            if x.score < threshold or x.entity not in c: continue
            m = [k for k, (ty, s, e) in enumerate(g) if ty == x.entity and x.start < e and s < x.end]
            if m: hit.update(m)
            else: c[x.entity]["fp"] += 1
        for k, (ty, s, e) in enumerate(g):
            if ty in c: c[ty]["tp" if k in hit else "fn"] += 1
    out = {e: prf(v["tp"], v["fp"], v["fn"]) for e, v in c.items()}
    tot = sum(c.values(), Counter())
    out["all"] = prf(tot["tp"], tot["fp"], tot["fn"])
    pat = sum((c[e] for e in c if e not in ("PERSON", "LOCATION")), Counter())
    out["pattern types"] = prf(pat["tp"], pat["fp"], pat["fn"])
    return out

sweep = {th: pii_scores(th) for th in (0.3, 0.4, 0.5, 0.6)}
bench.table("PII by entity type at the default threshold 0.4", [{"type": e, **v} for e, v in sweep[0.4].items()])
bench.table("PII threshold sweep (all types)", [{"threshold": th, **v["all"], "pattern_types_precision": v["pattern types"]["precision"],
                                                 "pattern_types_recall": v["pattern types"]["recall"]} for th, v in sweep.items()])

# ---------------------------------------------------------------- exact and near duplicates
# Scored on pairs: the rows are shuffled, so a copy can come before its original and the detector then keeps the copy;
# a predicted pair {row, the row it duplicates} is right when the labels pair the same two rows.
all_texts = [text(r) for r in rows]
dup = exact_duplicates(all_texts)
pred = {frozenset((i, d)) for i, d in enumerate(dup) if d is not None}
gold_exact = {frozenset((i, ids[r["labels"]["exact_dup_of"]])) for i, r in enumerate(rows) if r["labels"]["exact_dup_of"]}
bench.table("exact duplicates (pairs)", [{"detector": "exact", **prf(len(pred & gold_exact), len(pred - gold_exact), len(gold_exact - pred))}])

keep = [i for i, d in enumerate(dup) if d is None]
kept = set(keep)
gold_near = {frozenset((i, ids[r["labels"]["near_dup_of"]])) for i, r in enumerate(rows) if r["labels"]["near_dup_of"]}
gold_near |= {p for p in gold_exact - pred if p <= kept}            # exact copies the exact stage missed are near-dups too
near_rows = []
for th in (0.7, 0.8, 0.9):
    with timer() as t: clusters = near_duplicates([all_texts[i] for i in keep], threshold=th)
    pred_n = {frozenset((keep[c[0]], keep[j])) for c in clusters for j in c[1:]}
    near_rows.append({"threshold": th, **prf(len(pred_n & gold_near), len(pred_n - gold_near), len(gold_near - pred_n)),
                      "clusters": len(clusters), "seconds": round(t.s, 3)})
bench.table("near duplicates (pairs, after exact removal)", near_rows)

# ---------------------------------------------------------------- contamination
items = benchmark_items()
dec = Decontaminator(items)
with timer() as t: hits = dec.check(all_texts)
lab_c = {i: r["labels"]["contaminated"]["benchmark"] for i, r in enumerate(rows) if r["labels"]["contaminated"]}
flagged = {i: h[0] for i, h in enumerate(hits) if h}
tp = sum(1 for i, b in flagged.items() if lab_c.get(i) == b)
per_bench = []
for b in sorted(set(lab_c.values())):
    lb = {i for i, x in lab_c.items() if x == b}; fb = {i for i, x in flagged.items() if x == b}
    per_bench.append({"benchmark": b, **prf(len(lb & fb), len(fb - lb), len(lb - fb))})
bench.table("contamination", [{"benchmark": "all", **prf(tp, len(flagged) - tp, len(lab_c) - tp), "n": DEFAULT_N}] + per_bench)
bench.fact(decontam_s=round(t.s, 3), benchmark_questions=sum(len(v) for v in items.values()))
bench.save()
