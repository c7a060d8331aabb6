"""The two papermill templates, executed the way `llmforge run` and `llmforge compare` execute them, with the mock engine
(fast): the run template logs a run with its records and report, the compare template compares two such runs item by item
and logs the comparison (statistics, tables, charts) as a run of its own."""
import json, os
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient
from llmforge.pipeline.cli import run, compare

QUESTIONS = {"What is the capital of France?": "Paris", "What is the capital of Japan?": "Tokyo",
             "What is the capital of Italy?": "Rome", "What is the capital of Spain?": "Madrid"}

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    wd = tmp_path_factory.mktemp("templates")
    old = Path.cwd(); os.chdir(wd)
    data = wd / "caps.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{i}", "question": q, "answers": [a], "task": "qa"}) + "\n"
                            for i, (q, a) in enumerate(QUESTIONS.items())))
    outs = {}
    try:
        for name, known in (("weak", 1), ("strong", 4)):
            answers = dict(list(QUESTIONS.items())[:known])     # keyed by question: flattened, these become odd MLflow param keys
            cfg = wd / f"{name}.yaml"
            cfg.write_text(json.dumps({"name": name, "model": name, "dataset": str(data), "engine": {"kind": "mock", "options": {"answers": answers}},
                                       "tracking": {"experiment": "templates", "tracking_uri": f"sqlite:///{wd / 'mlflow.db'}"}}))
            outs[name] = run(str(cfg), report_dir=str(wd / "reports"), progress=False)
        yield wd, outs
    finally: os.chdir(old)

def test_run_template_logs_records_and_report(two_runs):
    wd, outs = two_runs
    for name, out in outs.items():
        assert out["status"] == "FINISHED", out
        rep = json.loads(Path(out["json"]).read_text())
        assert len(rep["records"]) == 4 and rep["summary"]["n"] == 4
        assert Path(out["html"]).read_text().count("data:image/png;base64") >= 1
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    accs = {n: client.get_run(o["run_id"]).data.metrics["accuracy"] for n, o in outs.items()}
    assert accs == {"weak": 0.25, "strong": 1.0}

def test_compare_template_compares_item_by_item(two_runs):
    wd, outs = two_runs
    out = compare([f"base={outs['weak']['run_id']}", f"strong={outs['strong']['run_id']}"], report_dir=str(wd / "reports"),
                  progress=False)
    assert out["status"] == "FINISHED", out
    rep = json.loads(Path(out["json"]).read_text())
    acc = next(p for p in rep["paired"] if p["metric"] == "accuracy" and p["label_b"] == "strong")
    assert (acc["n"], acc["n_b_only"], acc["n_a_only"]) == (4, 3, 0)        # strong fixed three items and broke none
    assert [r["id"] for r in rep["item_diff"]["strong"]["fixed"]] == ["c1", "c2", "c3"]
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    cr = client.get_run(out["run_id"])
    assert cr.data.tags["llmforge.kind"] == "comparison" and cr.data.metrics["strong_vs_base.accuracy.fixed"] == 3
    arts = {a.path for a in client.list_artifacts(out["run_id"], "charts")}
    assert {"charts/metric_bars.png", "charts/accuracy_vs_latency.png"} <= arts, arts
    html = Path(out["html"]).read_text()
    assert "Differences against the baseline" in html and "fixed 3, broke 0" in html
