"End to end: `llmforge run` with the real SmolLM2 model through papermill into MLflow, and the failure paths."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
LLMFORGE = shutil.which("llmforge") or "llmforge"   # the console script the README uses

def llmforge(*args, cwd, env=None):
    return subprocess.run([LLMFORGE, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("run")
    home = tmp_path_factory.mktemp("home")
    p = llmforge("run", str(ROOT / "params" / "quickstart.yaml"), "--set", "n=4", "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(home)})
    return wd, home, p

def test_quickstart_run_lands_in_mlflow_with_report(quick_run):
    wd, home, p = quick_run
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["n"] == 4 and 0 <= run.data.metrics["accuracy"] <= 1
    assert run.data.params["model"] == "smollm2-135m-instruct"
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"records.json", "manifest.json", "report"} <= arts, arts
    report = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert any(x.endswith(".html") for x in report) and any(x.endswith(".ipynb") for x in report)
    html = next((wd / "reports").glob("quickstart-*.html")).read_text()
    assert "accuracy" in html and "latency p50" in html and "data:image/png;base64" in html   # cards and the histogram
    assert "run_experiment(" not in html                                                        # code cells are hidden
    data = json.loads(next((wd / "reports").glob("quickstart-*.json")).read_text())
    assert len(data["records"]) == 4 and data["manifest"]["model_sha256"]

def test_rerun_is_served_from_cache(quick_run):
    wd, home, _ = quick_run
    p = llmforge("run", str(ROOT / "params" / "quickstart.yaml"), "--set", "n=4", "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(home)})
    assert p.returncode == 0, p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id], order_by=["start_time DESC"])
    assert runs[0].data.metrics["n_cached"] == 4
    assert runs[0].data.metrics["accuracy"] == runs[1].data.metrics["accuracy"]

def test_invalid_config_fails_before_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmethod: {name: cott}\n")
    p = llmforge("run", str(bad), cwd=tmp_path)
    assert p.returncode == 2
    assert "method.name: 'cott' is not one of:" in p.stderr and "naive" in p.stderr
    assert not (tmp_path / "mlflow.db").exists()

def test_failing_notebook_marks_run_failed(tmp_path):
    ds = tmp_path / "broken.jsonl"
    ds.write_text('{"id": "1", "question": "q", "answers": ["a"]}\n{"id": "2", "question": \n')
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(f"name: broken\ndataset: {ds}\nmodel: mock\nengine: {{kind: mock}}\n")
    p = llmforge("run", str(cfg), "--quiet", cwd=tmp_path, env={"LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 1
    assert "broken.jsonl:2: invalid JSON" in p.stderr + p.stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("llmforge").experiment_id])[0]
    assert run.info.status == "FAILED"
    assert list((tmp_path / "reports").glob("broken-*.html")), "the partial report of a failed run is kept"
