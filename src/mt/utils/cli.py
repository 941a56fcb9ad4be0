"""Entry-point glue: user errors become one line on stderr and exit status 2, not a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from mt.utils.errors import MTError


def run_main(fn: Callable[[], object]) -> object:
    """Call ``fn``; an ``MTError`` prints ``error: <message>`` and exits 2; Ctrl-C exits 130."""
    try:
        return fn()
    except MTError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def work_dir() -> str:
    """The directory the command was started from (Hydra's original cwd inside a Hydra job)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return HydraConfig.get().runtime.cwd
    except ImportError:
        pass
    return os.getcwd()
