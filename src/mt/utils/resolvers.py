"""What Hydra needs before it composes ``conf/``: the resolvers and the config schemas.

``${now:...}`` in ``hydra.run.dir`` would give every torchrun rank its own timestamp and directory;
``${mt_run_id:}`` gives all ranks the same id instead. The schemas are the dataclasses of
``mt.config``: the one place where every config key, its type and its default are written.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import typing
from typing import Any

from omegaconf import OmegaConf


def run_id() -> str:
    """``MT_RUN_ID`` if set; under torchrun its rendezvous id; alone, a timestamp."""
    if os.environ.get("MT_RUN_ID"):
        return os.environ["MT_RUN_ID"]
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        rdzv = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if rdzv and rdzv != "none":
            return rdzv
        raise ValueError(
            "under torchrun every rank needs the same run id: pass run_id=NAME "
            "(or use torchrun --standalone / --rdzv-id=NAME)"
        )
    return datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def missing_shared_run_id(argv: list[str]) -> str | None:
    """Under torchrun with no shared run id anywhere, the message to stop with; else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("MT_RUN_ID"):
        return None
    if os.environ.get("TORCHELASTIC_RUN_ID", "none") not in ("", "none"):
        return None
    if any(a.startswith(("run_id=", "hydra.run.dir=")) for a in argv):
        return None
    return ("under torchrun every rank needs the same run id: pass run_id=NAME, set MT_RUN_ID, "
            "or launch with torchrun --standalone (or --rdzv-id=NAME)")


def output_subdir() -> str | None:
    """``.hydra`` on rank 0; None (Hydra writes nothing) on the other ranks."""
    return ".hydra" if os.environ.get("RANK", "0") == "0" else None


def register_resolvers() -> None:
    """Register ``mt_run_id`` and ``mt_output_subdir``, and the config schemas (idempotent)."""
    for name, fn in (("mt_run_id", run_id), ("mt_output_subdir", output_subdir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)
    register_schemas()


# Fields whose schema takes any value; ``mt.config`` checks and converts them. ``checkpoint`` is one path
# or a list (``checkpoint=a.pt``, ``checkpoint=[a.pt,b.pt]``), and OmegaConf has no union types. A
# typed ``budget_dropout`` (Optional[Dict[int, float]]) holding None cannot take a dict from the
# command line: Hydra merges the override into the null node, which OmegaConf 2.3 fails to do.
_ANY_VALUE = {"TranslateConfig": ("checkpoint",), "EvaluateConfig": ("checkpoint",),
              "TrainerConfig": ("budget_dropout",)}


def register_schemas() -> None:
    """Store the dataclasses of ``mt.config`` in Hydra's ConfigStore, each under its class name.

    ``conf/`` composes onto them: a group option begins with ``defaults: [/TrainerConfig, _self_]``,
    a job config with its job's dataclass (``TrainConfig``, ``TranslateConfig``, ...). So every key
    has its type and default from the dataclass, the YAML holds only what an option changes, and a
    key no dataclass has is an error, as is a value of the wrong type.
    """
    from hydra.core.config_store import ConfigStore

    from mt import config

    store = ConfigStore.instance()
    for cls in (config.DataConfig, config.TokenizerConfig, config.ModelConfig, config.OptimConfig,
                config.TrainerConfig, config.DecodeConfig, config.TrainConfig, config.TranslateConfig,
                config.EvaluateConfig, config.ExportConfig, config.ServeConfig):
        store.store(name=cls.__name__, node=_schema(cls))


@functools.cache
def _schema(cls: type) -> type:
    """``cls`` as Hydra's schema: itself, or a copy whose ``_ANY_VALUE`` fields (its own, or those of
    the dataclasses it holds) take any value. Cached: a group's schema and the field of that type in
    its job's schema must be one class, or Hydra refuses to merge them."""
    types = typing.get_type_hints(cls)
    loose = {name: Any for name in _ANY_VALUE.get(cls.__name__, ())}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(types[f.name]) and _schema(types[f.name]) is not types[f.name]:
            loose[f.name] = _schema(types[f.name])
    if not loose:
        return cls
    fields = []
    for f in dataclasses.fields(cls):
        default_factory = loose[f.name] if dataclasses.is_dataclass(loose.get(f.name)) else f.default_factory
        fields.append((f.name, loose.get(f.name, types[f.name]),
                       dataclasses.field(default=f.default, default_factory=default_factory)))
    return dataclasses.make_dataclass(cls.__name__, fields)
