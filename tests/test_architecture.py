"""The package's architecture, checked on its source: no import cycles between modules, and every import points down the
layers (a subpackage imports only from subpackages on a lower layer, or from itself)."""
import ast
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parent.parent / "llmforge"

# Lower numbers are lower layers. A subpackage may import from its own modules and from any lower layer.
LAYERS = {
    "core": 0,                                    # types, registries, paths, stores: imports nothing of ours
    "data": 1, "models": 1,                       # datasets; model registry and GGUF files
    "engines": 2, "retrieval": 2,                 # generation backends; knowledge bases, indexes, retrievers
    "eval": 3, "tools": 3, "prep": 3,             # scorers, statistics, comparisons (no MLflow); agent tools; training-data prep
    "train": 4,                                   # fine-tuning (TRL, PEFT)
    "export": 4,                                  # adapters, merged models, GGUF files and their checks
    "methods": 4,                                 # naive, CoT, RAG, ReAct
    "tracking": 5, "report": 5,                   # all MLflow I/O; reports and charts
    "pipeline": 6,                                # plugins list, config, runner, CLI
    "ui": 7,                                      # JupyterLab widgets: launcher, progress, runs browser, comparison explorer
}

def module_name(p: Path) -> str:
    parts = p.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

def _walk_runtime(tree):
    "Every node except those under `if TYPE_CHECKING:` (imports for annotations only)."
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING": continue
        yield node
        todo.extend(ast.iter_child_nodes(node))

def imports_of(p: Path) -> set[str]:
    "Modules of the package that `p` imports, at module level or inside functions."
    mod, out = module_name(p), set()
    pkg = mod if p.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in _walk_runtime(ast.parse(p.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("llmforge.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else: target = node.module or ""
            if not target.startswith("llmforge."): continue
            for a in node.names:                              # `from llmforge.x import y` where y is a module
                sub = f"{target}.{a.name}"
                out.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists() else target)
    return {m for m in out if m != mod}

MODULES = {module_name(p): p for p in PKG.rglob("*.py") if p.name != "_modidx.py"}
GRAPH = {m: {i for i in imports_of(p) if i in MODULES} for m, p in MODULES.items()}

def layer(mod: str) -> tuple[str, int] | None:
    parts = mod.split(".")
    return (parts[1], LAYERS[parts[1]]) if len(parts) > 1 and parts[1] in LAYERS else None

def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    "One import cycle as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1: return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 2; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c

def test_every_subpackage_has_a_layer():
    subs = {m.split(".")[1] for m in MODULES if m.count(".") >= 1 and m.split(".")[1] not in ("resources",)}
    assert subs <= set(LAYERS), f"subpackages without a layer: {sorted(subs - set(LAYERS))}"

def test_no_import_cycles():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))

def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None

@pytest.mark.parametrize("mod", sorted(m for m in MODULES if layer(m)))
def test_imports_point_down_the_layers(mod):
    sub, lvl = layer(mod)
    bad = [i for i in sorted(GRAPH[mod]) if layer(i) and layer(i)[0] != sub and layer(i)[1] >= lvl]
    assert not bad, f"{mod} (layer {lvl}, {sub}) imports {', '.join(f'{b} (layer {layer(b)[1]})' for b in bad)}"

def test_only_tracking_talks_to_mlflow():
    users = sorted(m for m, p in MODULES.items() if "mlflow" in {n.split(".")[0] for n in _external_imports(p)})
    assert all(m.startswith("llmforge.tracking.") for m in users), users

def _external_imports(p: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.Import): out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module: out.add(node.module)
    return out
