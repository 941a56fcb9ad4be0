"""Write the key tables of docs/config.md from the config dataclasses of src/mt/config/schema.py.

    python scripts/config_docs.py            # rewrite the tables in docs/config.md
    python scripts/config_docs.py --check    # only say whether docs/config.md is up to date (exit 1 if not)

Each table stands between ``<!-- config-table NAME -->`` and ``<!-- /config-table -->``; everything
around the tables is written by hand and kept as it is. A table has one row per field of its
dataclass: the key, the default and the field's docstring (the string literal under the field,
read with ``ast``: Python keeps no attribute docstrings at run time). The default is the
dataclass's; where a job's YAML sets a top-level key itself (``run_id: ${mt_run_id:}``), the YAML's
value is shown, since that is what the command starts from.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
CONFIG_PY = REPO / "src" / "mt" / "config" / "schema.py"
CONFIG_MD = REPO / "docs" / "config.md"
CONF = REPO / "conf"


class Table(NamedTuple):
    """One generated table: its dataclass, the prefix of its keys, and the job YAML of its top level."""

    schema: str
    prefix: str = ""
    job_yaml: str | None = None
    groups: bool = False
    """Add a ``group.*`` row for each field that is itself a dataclass (translate.py's ``decode``)."""


TABLES = {
    "run": Table("TrainConfig", job_yaml="config.yaml"),
    "data": Table("DataConfig", "data."),
    "synthetic": Table("SyntheticConfig", "data.synthetic."),
    "tokenizer": Table("TokenizerConfig", "tokenizer."),
    "model": Table("ModelConfig", "model."),
    "optim": Table("OptimConfig", "optim."),
    "trainer": Table("TrainerConfig", "trainer."),
    "decode": Table("DecodeConfig", "decode."),
    "translate": Table("TranslateConfig", job_yaml="translate.yaml", groups=True),
    "evaluate": Table("EvaluateConfig", job_yaml="evaluate.yaml", groups=True),
    "export": Table("ExportConfig", job_yaml="export.yaml"),
    "serve": Table("ServeConfig", job_yaml="serve.yaml", groups=True),
}
_BLOCK = re.compile(r"(<!-- config-table (\w+) -->\n)(.*?)(<!-- /config-table -->)", re.S)


def field_docs(source: str) -> dict[str, dict[str, str]]:
    """``{class name: {field name: docstring}}`` for every class in ``source``."""
    docs: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs[node.name] = {}
        for stmt, after in zip(node.body, node.body[1:] + [None], strict=True):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.name][stmt.target.id] = after.value.value
    return docs


def format_value(value: Any) -> str:
    """A default as it is written on the command line and in YAML: ``null``, ``true``, ``[0.9, 0.98]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value and abs(value) < 1e-3:
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def to_markdown(docstring: str) -> str:
    """One table cell from a docstring: one line, ``code`` as `code`, docs/x.md#anchor as a link."""
    text = " ".join(line.strip() for line in textwrap.dedent(docstring).strip().splitlines())
    parts = re.split(r"(``.+?``)", text)
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = f"`{part[2:-2]}`"
        else:
            part = part.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            parts[i] = re.sub(r"docs/([\w-]+\.md)(#[\w-]+)?", _link, part)
    return "".join(parts)


def _link(match: re.Match) -> str:
    page, anchor = match.group(1), match.group(2) or ""
    if page == CONFIG_MD.name:  # a section of the page itself
        return f"[{anchor[1:].replace('-', ' ')}]({anchor})"
    return f"[{page}]({page}{anchor})"


def _job_values(job_yaml: str | None) -> dict[str, Any]:
    """The top-level keys a job's YAML sets itself (unresolved, e.g. ``${hydra:runtime.cwd}``)."""
    if job_yaml is None:
        return {}
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(OmegaConf.load(CONF / job_yaml), resolve=False)
    return {key: value for key, value in values.items() if key not in ("defaults", "hydra")}


def table(name: str, docs: dict[str, dict[str, str]]) -> str:
    """The markdown table ``name`` of ``TABLES``."""
    import mt.config

    spec = TABLES[name]
    cls = getattr(mt.config, spec.schema)
    types = typing.get_type_hints(cls)
    job = _job_values(spec.job_yaml)
    rows, group_rows = [], []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(types[f.name]):
            if spec.groups:
                meaning = to_markdown(docs[spec.schema][f.name])
                group_rows.append(f"| `{f.name}.*` | see [{f.name}](#{f.name}) | {meaning} |")
            continue
        if f.name not in docs[spec.schema]:
            raise SystemExit(f"error: {CONFIG_PY}: {spec.schema}.{f.name} has no docstring; "
                             f"write one under the field")
        default = job[f.name] if f.name in job else (
            f.default if f.default is not dataclasses.MISSING else f.default_factory())
        meaning = to_markdown(docs[spec.schema][f.name])
        rows.append(f"| `{spec.prefix}{f.name}` | `{format_value(default)}` | {meaning} |")
    return "\n".join(["| key | default | meaning |", "|---|---|---|", *rows, *group_rows]) + "\n"


def render(markdown: str, source: str) -> str:
    """``markdown`` with every config table rewritten from ``source`` (the text of config/schema.py)."""
    docs = field_docs(source)
    found = set()

    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise SystemExit(f"error: {CONFIG_MD}: unknown table <!-- config-table {name} -->; "
                             f"known: {', '.join(TABLES)}")
        found.add(name)
        return match.group(1) + table(name, docs) + match.group(4)

    out = _BLOCK.sub(fill, markdown)
    if missing := set(TABLES) - found:
        raise SystemExit(f"error: {CONFIG_MD} lacks the tables {', '.join(sorted(missing))}: add "
                         f"<!-- config-table NAME --> and <!-- /config-table --> lines where each goes")
    return out


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/config.md, or with ``--check`` report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/config.md is stale, writing nothing")
    args = parser.parse_args(argv)
    current = CONFIG_MD.read_text(encoding="utf-8")
    fresh = render(current, CONFIG_PY.read_text(encoding="utf-8"))
    if args.check:
        if fresh != current:
            print(f"{CONFIG_MD} is stale: run python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        CONFIG_MD.write_text(fresh, encoding="utf-8")
        print(f"wrote {CONFIG_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
