"""Imports point only to the same or a lower layer (see the layout in README/docs), and no mt modules
import each other in a cycle, counting imports inside functions."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mt"

# module prefix -> layer; the longest matching prefix wins.
LAYERS = {
    "mt.config": 0, "mt.utils": 0,
    "mt.data": 1, "mt.checkpoint": 1,
    "mt.model": 2,
    "mt.decode": 3, "mt.eval": 3, "mt.train.loss": 3, "mt.train.optim": 3, "mt.train.schedule": 3, "mt.train.metrics": 3,
    "mt.train.setup": 3, "mt.train.init": 3, "mt.train.clock": 3, "mt.train.guards": 3, "mt.train.state": 3, "mt.train.validate": 4, "mt.train.final": 4,
    "mt.train.trainer": 4, "mt.export": 4, "mt.serve": 4,
    "mt.train.run": 5, "mt.train": 5,
}
# Packages that must never see each other even at the same layer.
FORBIDDEN = {("mt.decode", "mt.train"), ("mt.eval", "mt.train"), ("mt.data", "mt.model"), ("mt.export", "mt.train"),
             # The server is a layer over decoding's batch path: it never reaches into training or exports.
             ("mt.serve", "mt.train"), ("mt.serve", "mt.export"),
             # The model gets the vocabulary as integers (mt.model.VocabInfo), never a tokenizer.
             ("mt.model", "mt.data"),
             # Backends share the line handling (mt.decode.lines), not the PyTorch backend.
             ("mt.decode.ct2", "mt.decode.run")}
# Modules that load without torch (scripts that only read or write text need no torch).
TORCH_FREE = ["mt.config", "mt.utils.text", "mt.utils.fingerprint", "mt.utils.compose"]


def layer_of(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return LAYERS[best] if best else None


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m == "mt" or m.startswith("mt.")}


def test_imports_follow_layers():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        mod = module_name(path)
        own = layer_of(mod)
        if own is None:
            continue
        for imp in imports(path):
            other = layer_of(imp)
            if other is not None and other > own:
                problems.append(f"{mod} (L{own}) imports {imp} (L{other})")
            for low, high in FORBIDDEN:
                if mod.startswith(low) and imp.startswith(high):
                    problems.append(f"{mod} must not import {imp}")
    assert not problems, "\n".join(problems)


def test_config_has_no_torch():
    assert not any("torch" in i for path in (SRC / "config").glob("*.py") for i in _all_imports(path))


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def module_graph() -> dict[str, set[str]]:
    """Every mt module -> the mt modules it imports, at the top or inside functions."""
    paths = {module_name(path): path for path in SRC.rglob("*.py")}
    return {mod: {imp for imp in imports(path) if imp in paths and imp != mod} for mod, path in paths.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a cycle (strongly connected components of
    more than one module, Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_import_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert import_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycles():
    graph = module_graph()
    assert "mt.decode.ct2" in graph["mt.decode.run"]  # imports inside functions count
    cycles = import_cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(group) for group in cycles)


def test_text_and_config_helpers_load_without_torch():
    code = f"import sys; import {', '.join(TORCH_FREE)}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
