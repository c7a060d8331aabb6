"Tracking against a real `mlflow server` on loopback, as a team would run it."
import os, shutil, subprocess
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # a real mlflow server: skipped by the fast tier (pytest tests --fast)

ROOT = Path(__file__).resolve().parent.parent
LLMFORGE = shutil.which("llmforge") or "llmforge"   # the console script the README uses

def test_run_logged_to_server(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient
    cfg = tmp_path / "mock.yaml"
    cfg.write_text("name: server-test\nmodel: mock\nengine: {kind: mock}\nn: 3\ntracking: {experiment: server-test}\n")
    p = subprocess.run([LLMFORGE, "run", str(cfg), "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_server,
                                                    "LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("server-test").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["n"] == 3
    arts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert "manifest.json" in arts and "report" in arts
    assert not (tmp_path / "mlflow.db").exists()      # nothing went to the local default store
