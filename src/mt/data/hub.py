"""Loading a dataset from the HF hub without hanging or burying the user in tracebacks when offline.

Before the first hub request, one short request to the hub's endpoint tells whether it can be reached.
When it cannot, ``datasets`` runs in offline mode for the rest of the process: a dataset already in the local cache
loads at once, and an uncached one fails at once, instead of after five retries with growing waits.
Every failure to reach the hub becomes one ``OfflineError`` naming the dataset and the ways forward.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

from mt.utils.errors import MTError
from mt.utils.network import network_failure, short_reason

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
"""How long the reachability check waits for the hub to answer."""


class OfflineError(MTError, ConnectionError):
    """A remote dataset could not be fetched because its server cannot be reached."""


OFFLINE_MODE_REASON = "HF_HUB_OFFLINE is set"


def offline_message(dataset: str, reason: str) -> str:
    """The one error for an unreachable hub: the dataset, the cause, and the three ways to proceed."""
    why = (f"{OFFLINE_MODE_REASON} and the HF cache does not hold it" if reason == OFFLINE_MODE_REASON
           else f"this machine seems offline ({reason})")
    return (
        f"cannot load the dataset {dataset} from the HF hub: {why}. "
        f"To proceed, either (1) copy the dataset to a directory in the hub's layout "
        f"(<dir>/<config>/<split>-*.parquet) and pass data.hf_path=<dir>; (2) fill the HF cache "
        f"($HF_HOME, default ~/.cache/huggingface) on a machine with access, e.g. with "
        f"scripts/prepare_data.py, and run with HF_HUB_OFFLINE=1; or (3) use parallel text files: "
        f"data.source=local data.local_dir=<dir> (docs/data.md)"
    )


def hub_offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: the hub is never contacted."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


@functools.cache
def hub_unreachable(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be reached, or None when it answers (any HTTP status counts). Checked
    once per process, through the same HTTP session (proxies included) that downloads use."""
    from huggingface_hub.utils import get_session

    try:
        get_session().head(endpoint, timeout=PROBE_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - whatever the client raises, the hub did not answer
        return short_reason(network_failure(e) or e)
    return None


def _go_offline() -> None:
    """Offline mode for ``datasets`` and ``huggingface_hub`` for the rest of the process, as
    ``HF_HUB_OFFLINE=1`` would have set it at import time."""
    import datasets.config
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True


def load_hub_dataset(path: str, *, dataset: str, remote: bool, **kwargs: Any) -> Any:
    """``datasets.load_dataset(path, **kwargs)``; ``dataset`` names it in errors (e.g. ``wmt/wmt14
    (config de-en, split validation)``). With ``remote`` false (a local directory) nothing is checked.

    Raises OfflineError when the hub cannot be reached and the cache does not hold the dataset.
    """
    import datasets

    if not remote:
        return datasets.load_dataset(path, **kwargs)
    from huggingface_hub import constants

    reason = None if hub_offline_mode() else hub_unreachable(constants.ENDPOINT)
    if reason is not None:
        logger.info("the HF hub (%s) cannot be reached (%s); looking for %s in the local cache only",
                    constants.ENDPOINT, reason, path)
        _go_offline()
    with offline_errors(dataset, reason):
        return datasets.load_dataset(path, **kwargs)


@contextlib.contextmanager
def offline_errors(dataset: str, reason: str | None = None) -> Iterator[None]:
    """Turn a failure to reach the hub inside the block (loading, or iterating a streamed dataset)
    into one OfflineError naming ``dataset``; other exceptions pass unchanged."""
    try:
        yield
    except OfflineError:
        raise
    except Exception as e:
        failure = network_failure(e)
        if failure is None:
            raise
        if reason is None and hub_offline_mode():
            reason = OFFLINE_MODE_REASON
        raise OfflineError(offline_message(dataset, reason or short_reason(failure))) from None
