"""The one error type of the data stage."""

from __future__ import annotations

from mt.utils.errors import MTError


class DataError(MTError, ValueError):
    """Input data is missing or malformed. The message names the file (and line) and what to do."""
