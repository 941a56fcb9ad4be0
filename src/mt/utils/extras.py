"""Optional dependencies: imported on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from mt.utils.errors import MTError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, which the optional extra ``extra`` of this package installs; if it is
    missing, raise an MTError saying what needs it (``purpose``) and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MTError(f"{purpose} needs the Python package {module.split('.')[0]!r} ({e.msg}); install "
                      f"the optional dependencies with: pip install -e \".[{extra}]\"") from None
