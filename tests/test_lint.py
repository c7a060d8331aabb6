"The exported package has no undefined names (a notebook's test cells can hide a missing import from its own tests)."
from pathlib import Path
import pytest
from pyflakes.api import check
from pyflakes.reporter import Reporter
from pyflakes import messages

MODULES = sorted((Path(__file__).resolve().parent.parent / "llmforge").glob("*.py"))

class _Collect(Reporter):
    def __init__(self): self.found = []
    def unexpectedError(self, filename, msg): self.found.append(f"{filename}: {msg}")
    def syntaxError(self, filename, msg, lineno, offset, text): self.found.append(f"{filename}:{lineno}: {msg}")
    def flake(self, m):
        if isinstance(m, (messages.UndefinedName, messages.UndefinedExport, messages.UndefinedLocal)): self.found.append(str(m))

@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_no_undefined_names(path):
    r = _Collect()
    check(path.read_text(), str(path), r)
    assert not r.found, "\n".join(r.found)
