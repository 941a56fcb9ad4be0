"""Composing the repository's Hydra configs outside ``@hydra.main``: scripts, benchmarks and tests.

The commands (``train.py`` and the others) get their config from ``@hydra.main``; everything else
that needs the same composed config calls ``compose_config``, so the resolvers, the config directory
and the Hydra version base are set in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt.utils.resolvers import register_resolvers

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
"""The repository's ``conf/`` directory (the package is installed from the repository, editable)."""


def compose_config(
    config_name: str = "config", overrides: Sequence[str] = (), *, run_dir: str | Path | None = None,
    work_dir: str | Path | None = None, sections: Sequence[str] | None = None,
    config_dir: str | Path = CONF_DIR,
) -> dict[str, Any]:
    """``conf/<config_name>.yaml`` composed with ``overrides`` as a resolved plain dict.

    ``run_dir`` and ``work_dir``, when given, are appended as ``run_dir=...`` and ``work_dir=...``
    overrides: the defaults read Hydra's run directory and working directory, which exist only in a
    Hydra run, so a full config resolves only with both set. ``sections`` resolves just those
    top-level keys (e.g. ``("data", "tokenizer")``), which then need neither. Hydra and OmegaConf
    errors propagate unchanged.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    register_resolvers()
    extra = [f"{key}={value}" for key, value in (("run_dir", run_dir), ("work_dir", work_dir)) if value is not None]
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=[*overrides, *extra])
    if sections is None:
        return OmegaConf.to_container(cfg, resolve=True)
    return {key: OmegaConf.to_container(cfg[key], resolve=True) for key in sections}
