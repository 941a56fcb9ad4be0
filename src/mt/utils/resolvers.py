"""OmegaConf resolvers that keep one run directory per run, whatever the number of ranks.

``${now:...}`` in ``hydra.run.dir`` would give every torchrun rank its own timestamp and directory;
``${mt_run_id:}`` gives all ranks the same id instead.
"""

from __future__ import annotations

import datetime
import os

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
    """Register ``mt_run_id`` and ``mt_output_subdir`` (idempotent)."""
    for name, fn in (("mt_run_id", run_id), ("mt_output_subdir", output_subdir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)
