"""Tracking at scale: a real `mlflow server` over a real PostgreSQL, started and stopped by `llmforge.tracking.services`.
Data lands in PostgreSQL and artifacts in the server's folder, arms logging at once do not conflict, a restart keeps the
runs, and a stop leaves no process behind."""
import json, os, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # real PostgreSQL and MLflow servers: skipped by the fast tier (pytest tests --fast)

psycopg2 = pytest.importorskip("psycopg2", reason="needs the cluster extra: pip install 'llmforge[cluster]'")
from mlflow.tracking import MlflowClient
from llmforge.tracking.services import (PostgresServer, ServiceError, _pgserver_bin_dir, free_port, server_processes,
                                        service_user, tracking_server, unreachable)

LLMFORGE = shutil.which("llmforge") or "llmforge"   # the console script the README uses


@pytest.fixture(scope="module")
def folder():
    "One tracking folder for the module (not pytest's tmp_path: PostgreSQL's unprivileged user could not enter it as root)."
    d = Path(tempfile.mkdtemp(prefix="llmforge-pg-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    "Whether `pid` is a live process (a zombie is not)."
    try: return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError): return False


def test_stack_logs_to_postgres_and_serves_artifacts(folder):
    t0 = time.monotonic()
    with tracking_server(folder) as srv:
        print(f"stack up in {time.monotonic() - t0:.1f} s (MLflow {srv.started_in_s:.1f} s)")
        assert srv.url.startswith("http://127.0.0.1:") and srv.postgres.uri.startswith("postgresql://postgres@127.0.0.1:")
        c = MlflowClient(srv.url)
        exp = c.create_experiment("pg-basic")
        assert c.get_experiment(exp).artifact_location.startswith("mlflow-artifacts:")   # proxied by the server
        rid = c.create_run(exp, run_name="first").info.run_id
        c.log_param(rid, "alpha", "0.5")
        c.log_metric(rid, "score", 0.75)
        c.log_text(rid, "hello through the server", "notes/hello.txt")
        c.set_terminated(rid)

        conn = psycopg2.connect(srv.postgres.uri)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT name, status, experiment_id FROM runs WHERE run_uuid = %s", (rid,))
                assert cur.fetchall() == [("first", "FINISHED", int(exp))]
                cur.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'alpha'", (rid,))
                assert cur.fetchall() == [("0.5",)]
                cur.execute("SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'score'", (rid,))
                assert cur.fetchall() == [(0.75,)]
        finally: conn.close()

        files = list((folder / "artifacts").rglob("hello.txt"))
        assert len(files) == 1 and rid in files[0].parts
        assert files[0].read_text() == "hello through the server"


ARM = r"""
import sys, time
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
url, exp_id, parent, i = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = MlflowClient(url)
rid = c.create_run(exp_id, run_name=f"arm-{i}", tags={"mlflow.parentRunId": parent, "arm": str(i)}).info.run_id
c.log_batch(rid, params=[Param("arm", str(i)), Param("lr", str(0.01 * (i + 1))), Param("method", "cot")])
for step in range(50):                                   # one request per value: many small writes at once
    c.log_metric(rid, "loss", 1.0 / (step + 1) + i, step=step)
now = int(time.time() * 1000)
c.log_batch(rid, metrics=[Metric("accuracy", step / 50, now, step) for step in range(50)])
c.log_table(rid, pd.DataFrame({"item": range(5), "correct": [True, False, True, True, i % 2 == 0]}), artifact_file="records.json")
c.set_terminated(rid, "FINISHED")
print("run_id", rid)
"""


def test_arms_log_at_once_without_conflicts(postgres_mlflow_server, tmp_path):
    n = 6
    c = MlflowClient(postgres_mlflow_server)
    exp = c.create_experiment("pg-concurrent-arms")
    parent = c.create_run(exp, run_name="study").info.run_id
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    procs = [subprocess.Popen([sys.executable, "-c", ARM, postgres_mlflow_server, exp, parent, str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "Traceback" not in err and "Error" not in err, err[-2000:]
    c.set_terminated(parent)

    arms = c.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(r.data.tags["arm"] for r in arms) == [str(i) for i in range(n)]
    assert {r.info.run_id for r in arms} == {o.split("run_id ")[-1].split()[0] for o, _ in outs}
    for r in arms:
        i, rid = int(r.data.tags["arm"]), r.info.run_id
        assert r.info.status == "FINISHED"
        assert r.data.params == {"arm": str(i), "lr": str(0.01 * (i + 1)), "method": "cot"}
        loss = sorted((m.step, m.value) for m in c.get_metric_history(rid, "loss"))
        assert loss == [(s, 1.0 / (s + 1) + i) for s in range(50)]
        assert sorted(m.step for m in c.get_metric_history(rid, "accuracy")) == list(range(50))
        table = json.loads(Path(c.download_artifacts(rid, "records.json", str(tmp_path))).read_text())
        assert len(table["data"]) == 5 and table["columns"] == ["item", "correct"]
    spans = sorted((r.info.start_time, r.info.end_time) for r in arms)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two arms were logging at the same time"


def test_two_llmforge_runs_at_once(postgres_mlflow_server, tmp_path):
    # The experiment exists before the arms start, as a study's driver makes it. Two runs that both create a new
    # experiment race in `Tracker.__init__` (look up, then create): the second create is refused (RESOURCE_ALREADY_EXISTS).
    MlflowClient(postgres_mlflow_server).create_experiment("pg-llmforge-runs")
    procs = []
    for arm in ("a", "b"):
        d = tmp_path / arm
        d.mkdir()
        (d / "mock.yaml").write_text(f"name: pg-arm-{arm}\nmodel: mock\nengine: {{kind: mock}}\nn: 4\n"
                                     "tracking: {experiment: pg-llmforge-runs}\n")
        procs.append(subprocess.Popen([LLMFORGE, "run", "mock.yaml", "--quiet"], cwd=d, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True,
                                      env={**os.environ, "MLFLOW_TRACKING_URI": postgres_mlflow_server,
                                           "LLMFORGE_HOME": str(d / "home")}))
    for p in procs:
        out = p.communicate(timeout=600)[0]
        assert p.returncode == 0, out[-3000:]
    c = MlflowClient(postgres_mlflow_server)
    runs = c.search_runs([c.get_experiment_by_name("pg-llmforge-runs").experiment_id])
    assert sorted(r.data.tags["mlflow.runName"] for r in runs) == ["pg-arm-a", "pg-arm-b"]
    for r in runs:
        assert r.info.status == "FINISHED" and r.data.metrics["n"] == 4
        assert {"manifest.json", "report"} <= {a.path for a in c.list_artifacts(r.info.run_id)}
    assert not any((tmp_path / arm / "mlflow.db").exists() for arm in ("a", "b"))   # nothing went to a local store


def test_restart_keeps_runs(folder, tmp_path):
    with tracking_server(folder) as srv:
        c = MlflowClient(srv.url)
        exp = c.create_experiment("pg-restart")
        rid = c.create_run(exp, run_name="before-restart").info.run_id
        c.log_metric(rid, "accuracy", 0.5, step=3)
        c.log_text(rid, "kept", "kept.txt")
        c.set_terminated(rid)
        before = {r.info.run_id: (r.info.status, r.data.metrics) for r in c.search_runs(
            [e.experiment_id for e in c.search_experiments()])}
        first_pids = (srv.pid, srv.postgres.pid)
    assert not any(map(_alive, first_pids))
    t0 = time.monotonic()
    with tracking_server(folder) as srv:
        print(f"restarted in {time.monotonic() - t0:.1f} s (MLflow {srv.started_in_s:.1f} s)")
        c = MlflowClient(srv.url)
        after = {r.info.run_id: (r.info.status, r.data.metrics) for r in c.search_runs(
            [e.experiment_id for e in c.search_experiments()])}
        assert after == before and rid in after
        assert [(m.step, m.value) for m in c.get_metric_history(rid, "accuracy")] == [(3, 0.5)]
        assert Path(c.download_artifacts(rid, "kept.txt", str(tmp_path))).read_text() == "kept"


def test_stop_leaves_no_processes(folder):
    with tracking_server(folder) as srv:
        pg, ml = srv.postgres, srv
        pg_pid, ml_pid = pg.pid, ml.pid
        pg_procs, ml_procs = server_processes(pg_pid), server_processes(ml_pid)
        assert pg_pid in pg_procs and len(pg_procs) >= 4      # the postmaster, checkpointer, writers, launchers, backends
        assert ml_pid in ml_procs and len(ml_procs) >= 2      # mlflow, uvicorn and its workers
        if service_user() is not None:                        # as root, PostgreSQL runs as an unprivileged account
            assert {os.stat(f"/proc/{p}").st_uid for p in pg_procs} == {service_user().pw_uid}
    assert (pg.pid, ml.pid) == (None, None)
    left = [p for p in [*pg_procs, *ml_procs] if _alive(p)]
    assert not left, f"still running after stop: {left}"
    assert server_processes(pg_pid) == {} and server_processes(ml_pid) == {}
    data = str(folder / "pg")
    holders = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if data in (p / "cmdline").read_bytes().decode(errors="replace") and _alive(int(p.name)): holders.append(p.name)
            except OSError: pass
    assert not holders and not (folder / "pg" / "postmaster.pid").exists()


def test_a_second_server_on_the_same_data_is_refused():
    d = Path(tempfile.mkdtemp(prefix="llmforge-pg-twice-")); d.chmod(0o711)
    try:
        with PostgresServer(d / "pg") as pg:
            with pytest.raises(ServiceError) as e:
                PostgresServer(d / "pg")
            msg = str(e.value)
            assert "\n" not in msg and "exited at start" in msg and "postmaster.pid" in msg, msg   # the log's own reason
            assert pg.pid and _alive(pg.pid)                 # the first one is untouched
    finally: shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("command", [[sys.executable, "-m", "llmforge.tracking.services"], [shutil.which("llmforge") or "llmforge", "server"]],
                         ids=["python-m", "llmforge-server"])
def test_shell_command_runs_until_ctrl_c(command):
    "`llmforge server` (or `python -m llmforge.tracking.services`) prints the URL and the export line, serves, and stops both servers on Ctrl-C."
    folder, port = Path(tempfile.mkdtemp(prefix="llmforge-pg-cli-")), free_port()
    # started with SIGINT ignored, as a script's background job is: Ctrl-C must still stop it
    p = subprocess.Popen([*command, "--folder", str(folder), "--port", str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    servers = {}
    try:
        lines = [p.stdout.readline().strip() for _ in range(3)]
        url = f"http://127.0.0.1:{port}"
        assert lines[0].startswith(f"MLflow tracking server at {url} ") and lines[1] == f"export MLFLOW_TRACKING_URI={url}", lines
        c = MlflowClient(url)
        c.create_run(c.create_experiment("from-the-shell"))
        servers = server_processes(p.pid)                     # the CLI, PostgreSQL and MLflow with their own children
        assert len(servers) >= 6
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0 and "stopped" in p.stderr.read()
        assert not [q for q in servers if _alive(q)]
        assert len(list((folder / "pg").glob("PG_VERSION"))) == 1
    finally:
        if p.poll() is None: p.kill(); p.wait()
        for q in servers:                                     # a failed stop leaves no server behind either
            try: os.kill(q, signal.SIGKILL)
            except ProcessLookupError: pass
        p.stdout.close(); p.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(_pgserver_bin_dir() is None, reason="pgserver is not installed")
def test_pgserver_build_runs(monkeypatch):
    "The PostgreSQL build in the pip package pgserver (the `cluster` extra); as root, run from a copy in a readable cache."
    src = _pgserver_bin_dir()
    wanted = subprocess.run([str(src / "postgres"), "--version"], capture_output=True, text=True).stdout.split()[-1]
    monkeypatch.setenv("LLMFORGE_PG_BIN", str(src))
    cache = Path(tempfile.mkdtemp(prefix="llmforge-pg-cache-")); cache.chmod(0o755)
    monkeypatch.setenv("LLMFORGE_PG_CACHE", str(cache))
    d = Path(tempfile.mkdtemp(prefix="llmforge-pgserver-")); d.chmod(0o711)
    try:
        with PostgresServer(d / "pg", database="probe") as pg:
            conn = psycopg2.connect(pg.uri)
            with conn.cursor() as cur:
                cur.execute("SHOW server_version"); version = cur.fetchone()[0]
            conn.close()
            exe = Path(os.readlink(f"/proc/{pg.pid}/exe"))
        assert version.split()[0] == wanted
        moved = unreachable(src, service_user()) is not None      # root, and pgserver's folder is closed to the account
        assert exe.name == "postgres" and (cache in exe.parents if moved else exe.parent == src)
    finally:
        shutil.rmtree(d, ignore_errors=True); shutil.rmtree(cache, ignore_errors=True)
