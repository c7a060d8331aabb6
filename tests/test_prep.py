"""`llmforge prep`: the command-line contract other tools script (config, `--set input=... --set output=...`, exit codes),
bad input refused in one line with nothing written, every input kind read, determinism, atomic output, and no PII value
or secret in the outputs, the report or MLflow."""
import gzip, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

from llmforge.pipeline.cli import main, load_prep
from llmforge.prep.build import prepare
from llmforge.prep.ingest import ingest, PrepError

LLMFORGE = shutil.which("llmforge") or "llmforge"
FAST = "pii: {enabled: false}\ndecontaminate: {enabled: false}\ntracking: {experiment: prep-test}\n"

def jl(*rows) -> bytes: return b"".join(json.dumps(r).encode() + b"\n" for r in rows)
def sft_rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"r{i}", "instruction": f"Write sentence number {i} about the colour {c} and the animal {a}.",
             "output": f"Sentence {i}: the {a} is {c}, and it sits under tree {i * 7}."}
            for i, (c, a) in ((i, (["red", "blue", "green", "teal"][i % 4], ["cat", "dog", "owl", "eel", "fox"][i % 5])) for i in range(start, start + n))]

def prep_yaml(inp="data.jsonl", fmt="sft", out="out", extra=FAST) -> str:
    return f"name: t\ninput: {inp}\nformat: {fmt}\noutput: {out}\nsplit: {{sizes: {{train: 0.8, validation: 0.1, test: 0.1}}}}\n{extra}"

@pytest.fixture
def wd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path

def n_runs(wd: Path) -> int:
    if not (wd / "mlflow.db").exists(): return 0
    c = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    return sum(len(c.search_runs([e.experiment_id])) for e in c.search_experiments())

# %% bad input: each case is (files, extra argv, the text the one error line must contain)
GOOD = jl(*sft_rows(40))
CASES = {
    "missing-input":     ({"p.yaml": prep_yaml("nope.jsonl")}, [], "input not found: nope.jsonl"),
    "latin1-file":       ({"data.jsonl": "\n".join(json.dumps({"instruction": f"Café n°{i}", "output": "déjà vu"}, ensure_ascii=False)
                                                   for i in range(20)).encode("latin-1"), "p.yaml": prep_yaml()}, [],
                          "data.jsonl:1: not valid UTF-8 at byte"),
    "utf16-file":        ({"data.jsonl": GOOD.decode().encode("utf-16"), "p.yaml": prep_yaml()}, [], "data.jsonl:1: not valid UTF-8"),
    "mixed-schemas":     ({"data.jsonl": jl(*sft_rows(5), *[{"prompt": "p", "chosen": "a", "rejected": "b"}] * 5), "p.yaml": prep_yaml()}, [],
                          "data.jsonl:6: no instruction/output, prompt/completion, question/answer or messages fields: the record has the fields of a 'preference' row"),
    "empty-fields":      ({"data.jsonl": jl(*sft_rows(6), *[{"instruction": "x", "output": " "}] * 3), "p.yaml": prep_yaml()}, [],
                          "data.jsonl:7: field 'output' is empty (3 of 9 records malformed"),
    "huge-row":          ({"data.jsonl": GOOD[:200] .split(b"\n")[0] + b"\n" + jl({"instruction": "x" * (2 << 20), "output": "y"}), "p.yaml": prep_yaml()}, [],
                          "data.jsonl:2: line is 2,097,"),
    "bad-json":          ({"data.jsonl": b'{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n', "p.yaml": prep_yaml()}, [],
                          "data.jsonl:2: invalid JSON"),
    "json-array-broken": ({"data.json": b'[{"instruction": "a", "output": "b"},\n {"instruction": }]', "p.yaml": prep_yaml("data.json")}, [],
                          "data.json:2: invalid JSON"),
    "csv-ragged":        ({"data.csv": b"instruction,output\na,b\nc\nd\ne\n", "p.yaml": prep_yaml("data.csv")}, [], "data.csv:3: 1 fields where the header has 2"),
    "empty-input":       ({"data.jsonl": b"\n\n", "p.yaml": prep_yaml()}, [], "data.jsonl: no records"),
    "unknown-type":      ({"data.xml": b"<a/>", "p.yaml": prep_yaml("data.xml")}, [], "data.xml: unknown file type"),
    "hf-missing":        ({"p.yaml": prep_yaml("hf:./no-such-folder")}, [], "hf:./no-such-folder: could not load the dataset"),
    "format-unknown":    ({"data.jsonl": GOOD, "p.yaml": prep_yaml(fmt="dpo")}, [], "format: 'dpo' is not allowed; allowed values: 'sft', 'preference' or 'text'"),
    "output-missing":    ({"data.jsonl": GOOD, "p.yaml": "input: data.jsonl\nformat: sft\n"}, [], "output: required field is missing"),
    "unknown-field":     ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra="dedup: {thresold: 0.9}\n")}, [], "dedup.thresold: unknown field"),
    "threshold-range":   ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra="dedup: {threshold: 1.5}\n")}, [], "dedup.threshold: 1.5"),
    "policy-unknown":    ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra="pii: {policy: blur}\n")}, [], "pii.policy: 'blur' is not allowed"),
    "yaml-syntax":       ({"p.yaml": "input: [x\n"}, [], "invalid YAML in p.yaml:"),
    "bad-set":           ({"data.jsonl": GOOD, "p.yaml": prep_yaml()}, ["--set", "output"], "--set expects key=value"),
    "split-too-big":     ({"data.jsonl": GOOD, "p.yaml": prep_yaml().replace("{train: 0.8, validation: 0.1, test: 0.1}", "{train: 100, test: 10}")}, [],
                          "split.sizes: 110 rows asked for, the input has 40 usable rows"),
    "split-fractions":   ({"data.jsonl": GOOD, "p.yaml": prep_yaml().replace("validation: 0.1", "validation: 0.5")}, [], "fractions sum to 1.4"),
    "model-unknown":     ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra=FAST + "model: gpt-17\n")}, [], "model: model 'gpt-17': no tokenizer found"),
    "template-unknown":  ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra=FAST + "template: vicuna\n")}, [], "template: 'vicuna' is not allowed"),
    "base-no-template":  ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra=FAST + "model: gemma3-270m\ntemplate: model\n")}, [],
                          "template 'model' needs a target model with a chat template of its own; this one has none"),
    "ner-missing":       ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra="pii: {ner_model: xx_ent_wiki_sm}\n")}, [], "pii.ner_model: spaCy pipeline 'xx_ent_wiki_sm' is not installed"),
    "benchmark-unknown": ({"data.jsonl": GOOD, "p.yaml": prep_yaml(extra="decontaminate: {benchmarks: [mmlu]}\n")}, [], "decontaminate.benchmarks: unknown mmlu"),
    "output-not-ours":   ({"data.jsonl": GOOD, "out/keep.txt": b"precious", "p.yaml": prep_yaml()}, [], "output: out exists and is not a data set written by llmforge prep"),
    "output-is-file":    ({"data.jsonl": GOOD, "out": b"a file", "p.yaml": prep_yaml()}, [], "output: out exists and is not a data set"),
    "preference-fields": ({"data.jsonl": jl(*[{"prompt": "p", "chosen": "same", "rejected": "same"}] * 4), "p.yaml": prep_yaml(fmt="preference")}, [],
                          "data.jsonl:1: chosen and rejected are the same text (all 4 records malformed)"),
}

@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused_in_one_line(case, wd, capsys):
    files, argv, expected = CASES[case]
    for name, content in files.items():
        p = wd / name; p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    before = {str(p): p.read_bytes() for p in wd.rglob("*") if p.is_file()}
    rc = main(["prep", "p.yaml", "--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert expected in err, err
    after = {str(p): p.read_bytes() for p in wd.rglob("*") if p.is_file()}
    assert after == before, "a refused prep changed or wrote files"
    assert n_runs(wd) == 0 and not (wd / "reports").exists()

def test_console_script_exit_2_no_traceback(wd):
    (wd / "p.yaml").write_text(prep_yaml("missing.jsonl"))
    p = subprocess.run([LLMFORGE, "prep", "p.yaml"], cwd=wd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.strip() == "error: input not found: missing.jsonl", p.stderr

# %% the contract: --set input/output, exit 0, folder, card, MLflow run with dataset inputs, report
def test_prep_cli_contract(wd, capsys):
    (wd / "raw.jsonl").write_bytes(jl(*sft_rows(50), {"instruction": "broken", "output": ""}, *sft_rows(2)))   # 1 malformed, 2 exact dups
    (wd / "p.yaml").write_text(prep_yaml("placeholder.jsonl", out="placeholder", extra="pii: {enabled: false}\ntracking: {experiment: prep-test}\n"))
    rc = main(["prep", "p.yaml", "--set", "input=raw.jsonl", "--set", "output=ds/sft", "--set", "max_malformed=0.05", "--quiet"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "1 of 53 records are malformed and kept out; first: raw.jsonl:51: field 'output' is empty" in out.err
    files = sorted(p.name for p in (wd / "ds/sft").iterdir())
    assert files == ["card.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    card = json.loads((wd / "ds/sft/card.json").read_text())
    c = card["counts"]
    assert (c["rows_in"], c["malformed"], c["exact_duplicates"]) == (53, 1, 2)
    assert c["rows_out"] == sum(c["splits"].values()) == 50 - c["near_duplicates"] - sum(c["contaminated"].values())
    n = c["rows_out"]; tenth = int(0.1 * n)          # fractions 0.8/0.1/0.1; the rounding remainder goes to train
    assert c["splits"] == {"train": n - 2 * tenth, "validation": tenth, "test": tenth}, c["splits"]
    rows = [json.loads(l) for l in (wd / "ds/sft/train.jsonl").read_text().splitlines()]
    assert rows[0]["prompt"].startswith("<|im_start|>") and rows[0]["completion"].endswith("<|im_end|>\n") and rows[0]["n_tokens"] > 10
    assert card["sources"][0]["input"] == "raw.jsonl" and len(card["sources"][0]["sha256"]) == 64
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("prep-test").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.tags["llmforge.dataset_hash"] == card["dataset_hash"]
    assert run.data.metrics["rows_out"] == c["rows_out"] and run.data.metrics["malformed"] == 1
    ins = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert ins == {f"t/{k}": card["dataset_hash"][:32] for k in ("train", "validation", "test")}
    html = next((wd / "reports").glob("t-*.html")).read_text()
    assert "Where the rows went" in html and card["dataset_hash"] in html

# %% every input kind, at library level (no notebook): CSV, TSV, Parquet, JSON, a text folder, an hf: local dataset
def test_input_kinds(tmp_path):
    import pandas as pd
    rows = sft_rows(12)
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "d.tsv", index=False, sep="\t")
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    (tmp_path / "d.json").write_text(json.dumps({"data": rows}))
    with gzip.open(tmp_path / "d.jsonl.gz", "wb") as f: f.write(jl(*rows))
    (tmp_path / "hf").mkdir(); (tmp_path / "hf" / "train.jsonl").write_bytes(jl(*rows))
    for inp in ("d.csv", "d.tsv", "d.parquet", "d.json", "d.jsonl.gz", "hf:" + str(tmp_path / "hf")):
        ing = ingest(str(tmp_path / inp) if not inp.startswith("hf:") else inp, "sft")
        assert [r.data["output"] for r in ing.rows] == [r["output"] for r in rows], inp
        assert not ing.malformed, inp
    txt = tmp_path / "texts"; txt.mkdir()
    for i in range(3): (txt / f"{i}.txt").write_text(f"Document {i}.\n\nSecond paragraph.")
    (txt / "notes.bin").write_bytes(b"\x00")
    ing = ingest(str(txt), "text")
    assert [r.data["text"] for r in ing.rows] == [f"Document {i}.\n\nSecond paragraph." for i in range(3)]
    assert ing.rows[0].source.endswith("texts/0.txt")

def test_hf_source_offline_by_split(tmp_path):
    "An `hf:` folder with several splits: the configured split is read through `datasets`, offline."
    d = tmp_path / "hh"; d.mkdir()
    (d / "train.jsonl").write_bytes(jl(*[{"chosen": f"\n\nHuman: q{i}\n\nAssistant: yes {i}", "rejected": f"\n\nHuman: q{i}\n\nAssistant: no {i}"} for i in range(6)]))
    (d / "test.jsonl").write_bytes(jl(*[{"chosen": "\n\nHuman: t\n\nAssistant: a", "rejected": "\n\nHuman: t\n\nAssistant: b"}]))
    ing = ingest(f"hf:{d}", "preference", hf={"split": "test"})
    assert [r.data for r in ing.rows] == [{"prompt": [{"role": "user", "content": "t"}], "chosen": "a", "rejected": "b"}]

# %% determinism and atomic output
def test_same_inputs_same_hash_and_stratified(tmp_path):
    rows = [{**r, "topic": "rare" if i % 10 == 0 else "common"} for i, r in enumerate(sft_rows(200))]
    (tmp_path / "d.jsonl").write_bytes(jl(*rows))
    mk = lambda out: load_prep_text(tmp_path, prep_yaml(str(tmp_path / "d.jsonl"), out=str(tmp_path / out),
                                                        extra=FAST + "dedup: {near: false}\nsplit: {sizes: {train: 0.8, validation: 0.1, test: 0.1}, stratify: topic}\n"))
    a, b = prepare(mk("a"), log=lambda s: None), prepare(mk("b"), log=lambda s: None)
    assert a.card["dataset_hash"] == b.card["dataset_hash"]
    assert (tmp_path / "a/train.jsonl").read_bytes() == (tmp_path / "b/train.jsonl").read_bytes()
    assert {k: sum(r["meta"]["topic"] == "rare" for r in v) for k, v in a.splits.items()} == {"train": 16, "validation": 2, "test": 2}

def load_prep_text(d: Path, text: str):
    p = d / "cfg.yaml"; p.write_text(text)
    return load_prep(p)

def test_failed_write_keeps_previous_dataset(tmp_path, monkeypatch):
    from llmforge.prep import build
    out = tmp_path / "ds"
    build.write_dataset(out, {"train": [{"id": "old"}]}, {"name": "x"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = Path.write_bytes
    def boom(self, data):
        if self.name == "test.jsonl": raise OSError("disk full")
        return real(self, data)
    monkeypatch.setattr(Path, "write_bytes", boom)
    with pytest.raises(OSError): build.write_dataset(out, {"train": [{"id": "new"}], "test": [{"id": "t"}]}, {"name": "x"})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]

@pytest.mark.slow
def test_kill_9_leaves_nothing_half_written(wd):
    "A prep killed at any moment leaves either no folder or a complete one (its files match the card's hashes)."
    import hashlib
    (wd / "p.yaml").write_text(prep_yaml("project:training/hh_rlhf_harmless_base_test.jsonl.gz", fmt="preference", out="ds",
                                         extra="pii: {enabled: false}\ntracking: {experiment: prep-test}\n"))
    # the MLflow store exists already, as a user's does: a kill during MLflow's first-time schema migration leaves the
    # SQLite file half-migrated (MLflow's own limit, not the prep's), and this test is about the data set folder
    MlflowClient(f"sqlite:///{wd / 'mlflow.db'}").search_experiments()
    for delay in (4.0, 9.0):
        p = subprocess.Popen([LLMFORGE, "prep", "p.yaml", "--quiet"], cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGKILL); p.wait()
        out = wd / "ds"
        if out.exists():
            card = json.loads((out / "card.json").read_text())
            for name, f in card["files"].items():
                assert hashlib.sha256((out / name).read_bytes()).hexdigest() == f["sha256"]
    p = subprocess.run([LLMFORGE, "prep", "p.yaml", "--quiet"], cwd=wd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert not [x for x in wd.iterdir() if x.name.startswith(".ds.")]

# %% no PII value and no secret reaches the data set, the report or MLflow
@pytest.mark.slow
def test_no_pii_or_salt_in_outputs(wd, monkeypatch):
    monkeypatch.setenv("LLMFORGE_PII_SALT", "s3cr3t-salt-value")
    rows = sft_rows(30)
    rows[3]["output"] = "Write to jane.roe.1987@example.org or call (415) 555-0198."
    rows[9]["instruction"] = "Charge card 4111 1111 1111 1111 for the order."
    (wd / "raw.jsonl").write_bytes(jl(*rows))
    (wd / "p.yaml").write_text(prep_yaml("raw.jsonl", extra="pii: {policy: hash}\ndecontaminate: {enabled: false}\ntracking: {experiment: prep-test}\n"))
    assert main(["prep", "p.yaml", "--quiet"]) == 0
    secrets = ["jane.roe.1987@example.org", "555-0198", "4111 1111 1111 1111", "s3cr3t-salt-value"]
    for p in wd.rglob("*"):
        if p.is_file() and p.name != "raw.jsonl" and p.suffix != ".db":
            data = p.read_bytes()
            for s in secrets: assert s.encode() not in data, f"{s} in {p}"
    db = (wd / "mlflow.db").read_bytes()
    for s in secrets: assert s.encode() not in db
    card = json.loads((wd / "out/card.json").read_text())
    assert card["counts"]["pii"]["found"].get("EMAIL_ADDRESS") == 1 and card["counts"]["pii"]["found"].get("CREDIT_CARD") == 1
