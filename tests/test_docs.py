"""The documentation points at things that exist: the docs home page (nbs/index.ipynb) says what README.md says, and every
repo path that README.md or a notebook's prose names (`benchmarks/...py`, `params/...yaml`, `data/...`) or links to\n(relative to the document) is in the tree."""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
PATH_RE = re.compile(r"`((?:benchmarks|params|data|nbs|tests|llmforge)/[\w./-]+\.(?:py|yaml|yml|json|jsonl|md|ipynb|sh))`")

def _prose(nb: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown")

LINK_RE = re.compile(r"\]\(((?!https?:|#|mailto:)[^)\s#]+)(?:#[^)]*)?\)")

def named_paths(text: str) -> set[str]:
    return set(PATH_RE.findall(text))

def linked_paths(text: str) -> set[str]:
    return set(LINK_RE.findall(text))

def test_the_path_finder_sees_code_spans():
    assert named_paths("see `benchmarks/speed/scheduler.py` and `params/quickstart.yaml`, not benchmarks/x.py") == {
        "benchmarks/speed/scheduler.py", "params/quickstart.yaml"}
    assert linked_paths("[r](../results/README.md#speed) [w](https://x.org/a) [s](#top)") == {"../results/README.md"}

def test_index_notebook_is_the_readme():
    squash = lambda s: re.sub(r"\n\s*\n", "\n", s).strip()
    assert squash(_prose(ROOT / "nbs" / "index.ipynb")) == squash((ROOT / "README.md").read_text()), \
        "nbs/index.ipynb differs from README.md: regenerate it (one markdown cell per ## section)"

DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "nbs").rglob("*.ipynb"))]

@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_named_paths_exist(doc):
    text = doc.read_text() if doc.suffix == ".md" else _prose(doc)
    missing = sorted(p for p in named_paths(text) if not (ROOT / p).exists())
    base = ROOT if doc.name == "index.ipynb" else doc.parent     # the home page is the README: its links are the README's
    missing += sorted(p for p in linked_paths(text) if not (base / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} names paths that are not in the tree: {missing}"
