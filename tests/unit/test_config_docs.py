"""docs/config.md's key tables are written from the dataclasses of src/mt/config/schema.py and must match them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config_docs():
    spec = importlib.util.spec_from_file_location("config_docs", ROOT / "scripts" / "config_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_docs"] = module  # the NamedTuple looks its module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_docs_config_md_is_up_to_date(config_docs):
    current = config_docs.CONFIG_MD.read_text(encoding="utf-8")
    fresh = config_docs.render(current, config_docs.CONFIG_PY.read_text(encoding="utf-8"))
    assert fresh == current, "docs/config.md is stale: run python scripts/config_docs.py"


def test_a_changed_docstring_makes_the_docs_stale(config_docs):
    current = config_docs.CONFIG_MD.read_text(encoding="utf-8")
    source = config_docs.CONFIG_PY.read_text(encoding="utf-8")
    old = '"""Stop after this many optimizer steps."""'
    assert source.count(old) == 1
    fresh = config_docs.render(current, source.replace(old, '"""Stop after N updates."""'))
    assert "| `trainer.max_steps` | `100000` | Stop after N updates. |" in fresh
    assert fresh != current


def test_every_config_field_has_a_docstring(config_docs):
    import dataclasses

    import mt.config

    docs = config_docs.field_docs(config_docs.CONFIG_PY.read_text(encoding="utf-8"))
    missing = [f"{table.schema}.{f.name}" for table in config_docs.TABLES.values()
               for f in dataclasses.fields(getattr(mt.config, table.schema))
               if f.name not in docs[table.schema] and not dataclasses.is_dataclass(f.default_factory)]
    assert not missing, f"write a docstring under each of these fields in src/mt/config/schema.py: {missing}"


def test_field_docs_reads_the_string_under_each_field(config_docs):
    source = '''
class A:
    """Class docstring."""

    x: int = 1
    """About x,
    on two lines."""
    y: int = 2
    z: str = "z"
    """About z."""
'''
    assert config_docs.field_docs(source) == {"A": {"x": "About x,\n    on two lines.", "z": "About z."}}


@pytest.mark.parametrize("value, text", [
    (None, "null"), (True, "true"), (7e-4, "7e-4"), (1e-9, "1e-9"), (0.0, "0.0"), (3.0, "3.0"),
    (2_000_000, "2000000"), ([0.9, 0.98], "[0.9, 0.98]"), ({"train": 1, "valid": 2}, "{train: 1, valid: 2}"),
    ("${hydra:runtime.cwd}", "${hydra:runtime.cwd}"),
])
def test_defaults_are_written_as_on_the_command_line(config_docs, value, text):
    assert config_docs.format_value(value) == text


def test_docstrings_become_one_markdown_cell(config_docs):
    cell = config_docs.to_markdown('''``a<b>`` when x > 1 | y;
    see docs/benchmarks.md#loops and docs/config.md#budgets-and-stopping.''')
    assert cell == ("`a<b>` when x &gt; 1 \\| y; see [benchmarks.md](benchmarks.md#loops) and "
                    "[budgets and stopping](#budgets-and-stopping).")
