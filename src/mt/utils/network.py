"""Telling "this machine cannot reach the server" apart from other download failures.

HTTP clients wrap the failure to connect in several layers (``datasets`` raises ``ConnectionError``
from ``huggingface_hub``'s ``LocalEntryNotFoundError`` from the HTTP client's ``ConnectError``;
sacreBLEU's ``urllib`` raises ``URLError`` around a ``socket.gaierror``). ``network_failure`` walks
that chain, so callers can replace the whole stack with one sentence that says what to do.
"""

from __future__ import annotations

import socket
import urllib.error

# Exception classes of HTTP clients (httpx and its forks, requests, urllib3, huggingface_hub) that mean
# the server was not reached, matched by name so that none of those packages needs importing here.
_NETWORK_ERROR_NAMES = {
    "ConnectError", "ConnectTimeout", "ConnectTimeoutError", "ReadTimeout", "ReadTimeoutError",
    "PoolTimeout", "TimeoutException", "NetworkError", "ProxyError", "NewConnectionError",
    "MaxRetryError", "NameResolutionError", "OfflineModeIsEnabled",
}


def network_failure(exc: BaseException) -> BaseException | None:
    """The innermost exception in ``exc``'s chain (causes and contexts) that means a server could not be
    reached (no route, no DNS, refused, timed out, offline mode), or None when ``exc`` is something else,
    e.g. a missing file or an HTTP 404."""
    found = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_network_error(current):
            found = current
        current = current.__cause__ or current.__context__
    return found


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):  # the server answered: not a connectivity problem
        return False
    if isinstance(exc, urllib.error.URLError):  # urllib's "could not open the URL": DNS, refused, timeout
        return True
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror | socket.timeout):
        return True
    return any(cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(exc).__mro__)


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """``exc`` as one short line, e.g. ``ConnectError: [Errno -2] Name or service not known``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
