"""Throughput of `llmforge prep` per stage on 100k short instruction rows (one or two sentences each), on this machine.

The rows are generated (seeded) from word lists, with 2% exact duplicates, 2% near-duplicates (one word changed), 1% rows
with PII (emails, phones, cards, names) and 0.5% rows that contain a benchmark question, so every stage has work to do.
The whole pipeline runs once through `llmforge.prep.build.prepare` (PII with the spaCy NER model, exact and near
dedup, decontamination against every registered benchmark, SmolLM2's chat template, split); each stage's rows/s is
taken from the result's timings. `--ner none` runs the PII stage with the pattern recognizers only. A second comparison
times the PII scan alone on 20k texts in one process and split over two (`pii.workers`).

    python benchmarks/prep/prep_throughput.py              # 100k rows
    python benchmarks/prep/prep_throughput.py --n 20000    # quicker
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench, timer
import json, random, tempfile


from llmforge.prep.config import PrepConfig
from llmforge.prep.build import prepare
from llmforge.prep.dedup import benchmark_items

VERBS = "Write Describe Explain Summarize List Compare Suggest Translate Classify Rewrite Outline Name".split()
ADJ = "short formal funny simple detailed polite careful brief clear friendly technical vivid".split()
NOUN = ("poem email story recipe plan review letter summary list answer riddle tweet report speech note guide "
        "slogan headline caption question").split()
TOPIC = ("rain oceans coffee trains budgets gardens chess volcanoes bees history music winter robots bridges "
         "soccer maps tea deserts clocks rivers").split()
PII = ["Contact maria.lopez{i}@example.com for details.", "Call me at (415) 555-{i:04d} tomorrow.",
       "My card is 4111 1111 1111 1111, charge it.", "Ask John Carter in Denver about it.", "Send it to 10.0.{j}.{k} now."]

def make_rows(n: int, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    qs = [q for items in benchmark_items().values() for _, q in items]
    rows = []
    for i in range(n):
        r = rnd.random()
        if r < 0.02 and rows: rows.append(dict(rnd.choice(rows))); continue
        if r < 0.04 and rows:
            src = dict(rnd.choice(rows)); w = src["output"].split(); w[rnd.randrange(len(w))] = rnd.choice(TOPIC)
            rows.append({"instruction": src["instruction"], "output": " ".join(w)}); continue
        ins = f"{rnd.choice(VERBS)} a {rnd.choice(ADJ)} {rnd.choice(NOUN)} about {rnd.choice(TOPIC)} and {rnd.choice(TOPIC)} (item {i})."
        out = f"Here is a {rnd.choice(ADJ)} {rnd.choice(NOUN)}: {rnd.choice(TOPIC)} meet {rnd.choice(TOPIC)} on day {rnd.randrange(1000)}."
        if r < 0.05: out += " " + rnd.choice(PII).format(i=i % 10000, j=i % 250, k=(i * 7) % 250)
        elif r < 0.055: ins = f"Answer this question: {rnd.choice(qs)}"
        rows.append({"instruction": ins, "output": out})
    return rows

def pii_workers(n_texts: int = 20_000):
    "The PII scan alone on the rows' texts, in one process and in two."
    from llmforge.prep.pii import PiiScanner
    from llmforge.prep.build import scan_texts
    texts = [t for r in make_rows(n_texts // 2, seed=1) for t in (r["instruction"], r["output"])]
    sc = PiiScanner(ner_model=None if a.ner == "none" else a.ner); sc.scan(["warm up"])
    out = {}
    for w in (1, 2):
        with timer() as t: scan_texts(sc, texts, w)
        out[f"{w}_worker{'s' if w > 1 else ''}"] = {"texts": len(texts), "seconds": round(t.s, 1), "texts_per_s": round(len(texts) / t.s, 1)}
    bench.table("PII scan: processes", [{"workers": k, **v} for k, v in out.items()])

if __name__ == "__main__":          # the PII workers are spawned processes, which import this script
    bench = Bench(__doc__, rounds=1)
    bench.parser.add_argument("--n", type=int, default=100_000)
    bench.parser.add_argument("--ner", default="auto", help="spaCy NER model for PII: auto (default) or none")
    a = bench.parse()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        with timer() as t:
            rows = make_rows(a.n)
            (d / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        bench.fact(rows=a.n, generate_s=round(t.s, 2), mean_chars=round(sum(len(r["instruction"]) + len(r["output"]) for r in rows) / len(rows), 1))
        cfg = PrepConfig(name="throughput", input=str(d / "rows.jsonl"), format="sft", output=str(d / "out"),
                         pii={"ner_model": None if a.ner == "none" else a.ner, "cache": False}, max_tokens=512,
                         split={"sizes": {"train": 0.98, "validation": 0.01, "test": 0.01}})
        with timer() as t: res = prepare(cfg, log=lambda s: print(s, file=sys.stderr))
        bench.fact(total_s=round(t.s, 1), rows_per_s_total=round(a.n / t.s, 1), ner_model=(res.info.get("pii") or {}).get("ner_model"),
                   rows_out=res.counts["rows_out"], exact_duplicates=res.counts["exact_duplicates"],
                   near_duplicates=res.counts["near_duplicates"], contaminated=sum(res.counts["contaminated"].values()),
                   pii_rows=res.counts["pii"]["rows_with_pii"])
        bench.table("rows/s per stage", [{"stage": k, **v} for k, v in res.timings.items()])
    pii_workers()
    bench.save()
