"""Test-wide settings: offline hubs, no telemetry, a throwaway LLMFORGE_HOME; benchmark data from the package (or
$LLMFORGE_DATA_DIR). Shared fixtures: `llama_servers` starts real llama.cpp servers on loopback."""
import os, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("LLMFORGE_HOME", tempfile.mkdtemp(prefix="llmforge-home-"))
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def pytest_sessionfinish(session, exitstatus):
    "Drain MLflow's async trace queue before pytest prints its summary, so nothing is logged after it."
    import logging, sys
    if "mlflow" in sys.modules:
        import mlflow
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        try: mlflow.flush_trace_async_logging()
        except Exception: pass


LEAKY_ENV = ("MLFLOW_TRACKING_URI", "LLMFORGE_HOME", "LLMFORGE_DATA_DIR")

@pytest.fixture(autouse=True)
def environment_kept():
    "A test that leaves one of these variables changed fails here (and it is restored): later tests and their child processes would read another store."
    before = {k: os.environ.get(k) for k in LEAKY_ENV}
    yield
    changed = {k: os.environ.get(k) for k in LEAKY_ENV if os.environ.get(k) != before[k]}
    for k in changed:
        if before[k] is None: os.environ.pop(k, None)
        else: os.environ[k] = before[k]
    assert not changed, f"the test left the environment changed: {changed}"


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help="the fast tier: skip tests marked slow (real models and servers) and notebook cells flagged #| slow")

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads a real model or starts a real server (skipped with --fast)")

def pytest_collection_modifyitems(config, items):
    if not config.getoption("--fast"): return
    import pytest
    skip = pytest.mark.skip(reason="slow: run without --fast")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)


def free_port() -> int:
    "A loopback port nothing listens on (bound, then released)."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, base: str, api_key: str | None, what: str, within_s: float = 60):
    "Poll `base`/models until it answers 200 (with the key, if the server wants one); fail if the process exits first."
    deadline = time.monotonic() + within_s
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    while True:
        if proc.poll() is not None: pytest.fail(f"{what} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(base + "/models", headers=headers), timeout=2) as r:
                if r.status == 200: return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline: pytest.fail(f"{what} did not answer /v1/models within {within_s:.0f} s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen):
    "Stop one process we started, by its PID: terminate, then kill if it lingers."
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill(); proc.wait(timeout=10)


@pytest.fixture(scope="module")
def llama_servers():
    """A function that starts a real `python -m llama_cpp.server` (through `llama_server_command`) with SmolLM2, served as
    `smollm2` on a free loopback port, and returns its base URL (`http://127.0.0.1:PORT/v1`). `api_key` makes the server
    require that key (`--api_key`). Every server it started is stopped by its PID when the module's tests are done."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    from llmforge.engines.llama_cpp import llama_server_command
    from llmforge.models.registry import resolve_model
    procs = []
    def start(api_key: str | None = None, n_threads: int = 1, n_ctx: int = 1024) -> str:
        port = free_port()
        args = ["--model", resolve_model("smollm2-135m-instruct").path(), "--model_alias", "smollm2", "--host", "127.0.0.1",
                "--port", port, "--n_ctx", n_ctx, "--n_threads", n_threads]
        if api_key: args += ["--api_key", api_key]
        proc = subprocess.Popen(llama_server_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}/v1"
        _wait_ready(proc, base, api_key, "llama_cpp.server")
        return base
    yield start
    for p in procs: _stop(p)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    "A real `mlflow server` on a free loopback port (SQLite store, proxied artifacts); yields its URL, stopped by PID after the module."
    d = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{d / 'store.db'}",
                             "--artifacts-destination", str(d / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2); break
        except Exception: time.sleep(1)
    else:
        proc.kill(); pytest.fail("mlflow server did not start within 120 s")
    yield url
    proc.terminate()
    try: proc.wait(20)
    except subprocess.TimeoutExpired: proc.kill()


@pytest.fixture(scope="module")
def postgres_mlflow_server():
    """A real `mlflow server` backed by a real PostgreSQL (`llmforge.tracking.services.tracking_server`), both on free
    loopback ports; yields the MLflow server's URL, both stopped by PID after the module. The folder comes from
    `tempfile.mkdtemp()`, not `tmp_path_factory`: as root PostgreSQL runs as an unprivileged user, who cannot enter
    pytest's 0700 `/tmp/pytest-of-root`."""
    import shutil
    from llmforge.tracking.services import tracking_server
    folder = tempfile.mkdtemp(prefix="llmforge-pg-mlflow-")
    try:
        with tracking_server(folder) as srv: yield srv.url
    finally: shutil.rmtree(folder, ignore_errors=True)


class _Proxy:
    "A running `tests/fault_proxy.py`: `url` is its OpenAI base URL (…/v1); `stats()` reads what it injected."
    def __init__(self, proc: subprocess.Popen, origin: str):
        self.proc, self.origin, self.url = proc, origin, origin + "/v1"

    def stats(self) -> dict:
        import json
        with urllib.request.urlopen(self.origin + "/_faults", timeout=10) as r: return json.loads(r.read())


@pytest.fixture
def fault_proxies():
    """A function that starts `tests/fault_proxy.py` in front of an upstream origin (`http://127.0.0.1:PORT`) with the
    given command-line options and returns a `_Proxy`; each proxy is stopped by its PID after the test."""
    import sys
    procs = []
    def start(upstream: str, *options) -> _Proxy:
        script = Path(__file__).with_name("fault_proxy.py")
        proc = subprocess.Popen([sys.executable, str(script), "--upstream", upstream, *map(str, options)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        line = proc.stdout.readline().strip()            # "listening on http://127.0.0.1:PORT", once it accepts connections
        if not line.startswith("listening on "): pytest.fail(f"fault_proxy.py did not start (exit code {proc.poll()})")
        return _Proxy(proc, line.split()[-1])
    yield start
    for p in procs:
        _stop(p)
        p.stdout.close()
