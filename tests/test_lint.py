"""The exported package is clean: no undefined names (a notebook's test cells can hide a missing import from its own tests)
and no unused imports (a notebook's export cell can keep imports its code no longer needs)."""
from pathlib import Path
import pytest
from pyflakes.api import check
from pyflakes.reporter import Reporter
from pyflakes import messages

PKG = Path(__file__).resolve().parent.parent / "llmforge"
MODULES = sorted(p for p in PKG.rglob("*.py") if p.name != "_modidx.py")
FLAGGED = (messages.UndefinedName, messages.UndefinedExport, messages.UndefinedLocal, messages.UnusedImport)

class _Collect(Reporter):
    def __init__(self): self.found = []
    def unexpectedError(self, filename, msg): self.found.append(f"{filename}: {msg}")
    def syntaxError(self, filename, msg, lineno, offset, text): self.found.append(f"{filename}:{lineno}: {msg}")
    def flake(self, m):
        if isinstance(m, FLAGGED): self.found.append(str(m))

def flakes(source: str, name: str = "x.py") -> list[str]:
    r = _Collect(); check(source, name, r); return r.found

def test_the_check_catches_both():
    assert any("undefined name" in f for f in flakes("def f(): return y\n"))
    assert any("imported but unused" in f for f in flakes("import os\n"))
    assert flakes("import os\nprint(os.sep)\n") == []

@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_module_is_clean(path):
    found = flakes(path.read_text(), str(path))
    assert not found, "\n".join(found)
