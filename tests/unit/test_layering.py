"""Imports point only to the same or a lower layer (see the layout in README/docs)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mt"

# module prefix -> layer; the longest matching prefix wins.
LAYERS = {
    "mt.config": 0, "mt.utils": 0,
    "mt.data": 1, "mt.checkpoint": 1,
    "mt.model": 2,
    "mt.decode": 3, "mt.eval": 3, "mt.train.loss": 3, "mt.train.optim": 3, "mt.train.schedule": 3, "mt.train.metrics": 3,
    "mt.train.setup": 3, "mt.train.validate": 4,
    "mt.train.trainer": 4, "mt.export": 4,
    "mt.train.run": 5, "mt.train": 5,
}
# Packages that must never see each other even at the same layer.
FORBIDDEN = {("mt.decode", "mt.train"), ("mt.eval", "mt.train"), ("mt.data", "mt.model"), ("mt.export", "mt.train")}


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
    assert not any("torch" in i for i in _all_imports(SRC / "config.py"))


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names
