"Every notebook in nbs/ runs its own tests (the cells after each definition), one pytest item per notebook."
import os
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_notebook   # aliased so pytest does not collect it

ROOT = Path(__file__).resolve().parent.parent / "nbs"
NBS = sorted(p for p in ROOT.rglob("*.ipynb") if ".ipynb_checkpoints" not in str(p))

@pytest.mark.parametrize("nb", NBS, ids=[str(p.relative_to(ROOT)) for p in NBS])
def test_notebook(nb, request):
    "All cells, or with --fast all but those flagged `#| slow` (the ones that load a real model or build a real index)."
    skip = ["notest", "slow"] if request.config.getoption("--fast") else ["notest"]
    env = dict(os.environ)                  # notebooks run in this process; what they set for their examples stays in them
    try: ok, secs = run_notebook(nb, basepath=str(nb.parent), skip_flags=skip)
    finally: os.environ.clear(); os.environ.update(env)
    assert ok, f"{nb.name} failed (see the traceback above)"
