"Every notebook in nbs/ runs its own tests (the cells after each definition), one pytest item per notebook."
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_notebook   # aliased so pytest does not collect it

NBS = sorted(p for p in (Path(__file__).resolve().parent.parent / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in str(p))

@pytest.mark.parametrize("nb", NBS, ids=[str(p.relative_to(p.parents[1] if p.parent.name == "experiments" else p.parent)) for p in NBS])
def test_notebook(nb):
    ok, secs = run_notebook(nb, basepath=str(nb.parent), skip_flags=["notest", "slow"])
    assert ok, f"{nb.name} failed (see the traceback above)"
