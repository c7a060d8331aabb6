"Test-wide settings: offline hubs, no telemetry, a throwaway LLMFORGE_HOME; benchmark data from the package (or $LLMFORGE_DATA_DIR)."
import os, tempfile
from pathlib import Path

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
