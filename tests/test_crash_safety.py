"""kill -9 of the whole `llmforge run` process group at points spread over a run's life (kernel start, the loop, after
the loop while the run is tracked, while the report is written), then a run that finishes. Afterwards: no finished
example was generated twice, none was lost, the records equal an uninterrupted run's, the runs the kills left RUNNING
are KILLED and point at the run that took over, and the SQLite stores pass `PRAGMA integrity_check` after every kill.
The engine is the mock engine with a per-request delay and a ledger of every request it answered, which is what lets the
test count generations across processes."""
import json, os, random, signal, sqlite3, subprocess, shutil, time
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
LLMFORGE = shutil.which("llmforge") or "llmforge"
N = 40
# where each kill lands; after a kill past the loop every example is finished, so the later phases come last
PHASES = ["start", "loop", "start", "loop", "loop", "loop", "tracking", "report", "tracking", "report", "report"]

def config(wd: Path, ledger: Path) -> Path:
    p = wd / "crash.yaml"
    p.write_text(f"name: crash\nmodel: mock\ndataset: quickstart\nn: {N}\nseed: 3\n"
                 f"engine: {{kind: mock, options: {{latency_s: 0.08, ledger: {ledger}}}}}\ntracking: {{experiment: crash}}\n")
    return p

def launch(wd: Path, home: Path, cache: bool) -> subprocess.Popen:
    args = [LLMFORGE, "run", "crash.yaml", "--quiet", *([] if cache else ["--no-cache"])]
    return subprocess.Popen(args, cwd=wd, env={**os.environ, "LLMFORGE_HOME": str(home)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def store(home: Path) -> Path | None:
    "The run's record folder (one: with and without the cache it is the same experiment)."
    runs = list((home / "runs").glob("*")) if (home / "runs").exists() else []
    assert len(runs) <= 1, runs
    return runs[0] if runs else None

def n_records(home: Path) -> int:
    s = store(home)
    return len((s / "records.jsonl").read_text().splitlines()) if s and (s / "records.jsonl").exists() else 0

def status(home: Path) -> str:
    s = store(home)
    return json.loads((s / "state.json").read_text()).get("status", "") if s and (s / "state.json").exists() else ""

def wait_for(cond, proc, timeout=120) -> bool:
    t = time.time()
    while time.time() - t < timeout:
        if cond(): return True
        if proc.poll() is not None: return False
        time.sleep(0.02)
    return False

def processes_with(home: Path) -> list[int]:
    "Pids of live processes started for this home (the driver and its kernel, which runs in a session of its own)."
    out, needle = [], f"LLMFORGE_HOME={home}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit(): continue
        try:
            if needle in (d / "environ").read_bytes() and b"Z" not in (d / "stat").read_bytes().split(b") ")[1][:1]:
                out.append(int(d.name))
        except OSError: pass
    return out

def kill_all(proc: subprocess.Popen, home: Path):
    "SIGKILL the driver's process group and, at the same instant, its kernel (which runs in a session of its own)."
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in processes_with(home):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    proc.wait()
    t = time.time()
    while processes_with(home) and time.time() - t < 15: time.sleep(0.1)
    assert not processes_with(home), "a process of the killed run is still alive"

def integrity(db: Path) -> str:
    if not db.exists(): return "ok"
    con = sqlite3.connect(db)
    try: return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally: con.close()

def essential(records: list[dict]) -> list[tuple]:
    return [(r["id"], r["predicted"], r["correct"], json.dumps(r["scores"], sort_keys=True), r["error"]) for r in records]

def generated_ids(ledger: Path, start: int, questions: dict) -> list[str]:
    "Example ids whose request the engine answered, from ledger line `start` on."
    lines = ledger.read_text().splitlines()[start:] if ledger.exists() else []
    return [next(i for q, i in questions.items() if q in json.loads(l)["text"]) for l in lines]

def test_kill_nine_at_random_points_loses_and_repeats_nothing(tmp_path):
    from llmforge.data.datasets import load_dataset
    questions = {e.question: e.id for e in load_dataset("quickstart").sample(N, 3)}
    rng = random.Random(7)

    # the reference: one uninterrupted run
    ref = tmp_path / "ref"; ref.mkdir()
    config(ref, ref / "ledger.jsonl")
    p = launch(ref, ref / "home", cache=False); out, err = p.communicate(timeout=600)
    assert p.returncode == 0, out + err

    wd = tmp_path / "wd"; wd.mkdir()
    home, ledger = wd / "home", wd / "ledger.jsonl"
    config(wd, ledger)
    kills, report = 0, []
    for i, phase in enumerate(PHASES):
        cache = i % 2 == 1                                   # with and without the response cache
        finished_before = {json.loads(l)["id"] for l in (store(home) / "records.jsonl").read_text().splitlines()} \
            if store(home) and (store(home) / "records.jsonl").exists() else set()
        mark = len(ledger.read_text().splitlines()) if ledger.exists() else 0
        if phase == "loop" and len(finished_before) >= N - 2: phase = "tracking"     # nothing left to interrupt in the loop
        proc = launch(wd, home, cache)
        if phase == "start": time.sleep(rng.uniform(0.5, 4.0)); hit = True
        elif phase == "loop":
            k = len(finished_before) + rng.randint(1, max(1, (N - len(finished_before)) // 3))     # part of what is left
            hit = wait_for(lambda: n_records(home) >= k, proc)
        elif phase == "tracking":
            hit = wait_for(lambda: status(home) == "finished", proc)
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            hit = wait_for(lambda: list((wd / "reports").glob("crash-*.ipynb")), proc)
            time.sleep(rng.uniform(0.0, 2.0))
        assert proc.poll() is None, f"kill {i} ({phase}): the run ended before the kill point ({report}, {len(finished_before)}, {n_records(home)})\n{proc.stdout.read()}{proc.stderr.read()}"
        kill_all(proc, home); kills += 1
        again = set(generated_ids(ledger, mark, questions)) & finished_before
        lines = (store(home) / "records.jsonl").read_text().splitlines() if store(home) and (store(home) / "records.jsonl").exists() else []
        ids = [json.loads(l)["id"] for l in lines if l.strip().endswith("}")]
        report.append((phase, hit, len(finished_before), len(ids), status(home)))
        assert not again, f"kill {i} ({phase}): finished examples generated again: {sorted(again)}"
        assert len(ids) == len(set(ids)), f"kill {i} ({phase}): an example has two records"
        assert finished_before <= set(ids), f"kill {i} ({phase}): finished records lost"
        for db in (home / "responses.sqlite", wd / "mlflow.db"):
            assert integrity(db) == "ok", f"kill {i} ({phase}): {db.name} is damaged"

    mark = len(ledger.read_text().splitlines())
    finished_before = {json.loads(l)["id"] for l in (store(home) / "records.jsonl").read_text().splitlines()}
    p = launch(wd, home, cache=False); out, err = p.communicate(timeout=600)
    assert p.returncode == 0, out + err
    assert not set(generated_ids(ledger, mark, questions)) & finished_before
    assert kills >= 10

    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("crash").experiment_id], order_by=["start_time DESC"])
    last = runs[0]
    assert last.info.status == "FINISHED"
    assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
    for r in runs[1:]:
        assert r.info.status == "KILLED" and r.data.tags.get("llmforge.superseded_by"), (r.info.run_id, r.info.status)
    got = [json.loads(l) for l in Path(client.download_artifacts(last.info.run_id, "records.jsonl", str(tmp_path))).read_text().splitlines()]
    ref_client = MlflowClient(f"sqlite:///{ref / 'mlflow.db'}")
    ref_run = ref_client.search_runs([ref_client.get_experiment_by_name("crash").experiment_id])[0]
    want = [json.loads(l) for l in Path(ref_client.download_artifacts(ref_run.info.run_id, "records.jsonl", str(tmp_path / "r"))).read_text().splitlines()]
    assert len(got) == N and essential(got) == essential(want)
    every = generated_ids(ledger, 0, questions)
    assert set(every) == set(questions.values())                                   # nothing lost
    print("\nkills:", report, "\ngenerations:", len(every), "for", N, "examples")
