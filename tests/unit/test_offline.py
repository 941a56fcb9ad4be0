"""No network: every failure to reach the HF hub or sacreBLEU's servers is one clear error, fast.

The failures are forced (a closed local port as the hub endpoint, a patched probe or loader), so the
tests behave the same on machines with and without internet access.
"""

import socket
import time
import urllib.error

import datasets
import pytest
from huggingface_hub import constants

import mt.data.hub as hub
from mt.config import DataConfig
from mt.data.hub import OfflineError
from mt.data.sources import iter_pairs
from mt.utils.network import network_failure
from tests.conftest import ROOT, run_cli

WAYS_FORWARD = ("data.hf_path=", "HF_HUB_OFFLINE=1", "data.source=local")


class ConnectError(Exception):
    """Stands in for an HTTP client's connect error (matched by name, as httpx's is)."""


@pytest.fixture
def isolated_hub(tmp_path, monkeypatch):
    """An empty datasets cache, online mode, and a fresh reachability check; restored afterwards."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    probe = hub.hub_unreachable
    probe.cache_clear()
    yield
    probe.cache_clear()


def closed_port_url() -> str:
    """An http:// URL on localhost where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_network_failures_are_found_through_the_exception_chain():
    def chained(inner: BaseException, outer: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as e:
                raise outer from e
        except BaseException as e:
            return e

    assert isinstance(network_failure(chained(ConnectError("no route"), OSError("wrapped"))), ConnectError)
    dns = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert network_failure(dns) is dns
    assert network_failure(chained(ConnectionRefusedError(111, "refused"), RuntimeError("x"))) is not None
    # the server answered, or nothing network-related happened: not "offline"
    assert network_failure(urllib.error.HTTPError("u", 404, "Not Found", {}, None)) is None
    assert network_failure(chained(FileNotFoundError("x.parquet"), ValueError("bad"))) is None


def test_unreachable_hub_fails_at_once_naming_the_dataset(isolated_hub, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", closed_port_url())
    cfg = DataConfig(source="hf", hf_path="wmt/wmt14", hf_config="de-en")
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        list(iter_pairs(cfg, "valid"))
    assert time.perf_counter() - start < 20  # no retries with growing waits
    message = str(err.value)
    assert "wmt/wmt14 (config de-en, split validation)" in message
    assert "seems offline" in message and "Connection refused" in message
    assert all(way in message for way in WAYS_FORWARD)
    assert constants.HF_HUB_OFFLINE  # later loads in this process go straight to the cache


def test_hf_hub_offline_with_an_empty_cache_says_so(isolated_hub, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE is set and the HF cache does not hold it"):
        list(iter_pairs(DataConfig(source="hf", hf_path="wmt/wmt14", hf_config="de-en"), "test"))


def test_connection_lost_during_download_is_the_same_error(isolated_hub, monkeypatch):
    """The hub answered the check, then the download failed: still one OfflineError, not a traceback."""
    monkeypatch.setattr(hub, "hub_unreachable", lambda endpoint: None)

    def load_dataset(*_args, **_kwargs):
        try:
            raise ConnectError("[Errno 101] Network is unreachable")
        except ConnectError as e:
            raise ConnectionError("Couldn't reach 'wmt/wmt14' on the Hub (LocalEntryNotFoundError)") from e

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(OfflineError, match=r"seems offline \(ConnectError: \[Errno 101\] Network is unreachable"):
        list(iter_pairs(DataConfig(source="hf", hf_path="wmt/wmt14", hf_config="de-en"), "train"))


def test_other_load_errors_are_not_called_offline(isolated_hub, monkeypatch):
    monkeypatch.setattr(hub, "hub_unreachable", lambda endpoint: None)

    def load_dataset(*_args, **_kwargs):
        raise RuntimeError("a bug, not the network")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(RuntimeError, match="a bug"):
        list(iter_pairs(DataConfig(source="hf", hf_path="wmt/wmt14"), "test"))


def test_train_wmt14_offline_is_one_error_within_a_minute(tmp_path):
    """The issue's check: `python train.py experiment=wmt14_en_de` with the hub unreachable."""
    env = {"HF_ENDPOINT": closed_port_url(), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    start = time.perf_counter()
    out = run_cli(["train.py", "experiment=wmt14_en_de", f"hydra.run.dir={tmp_path / 'run'}",
                   f"data.cache_dir={tmp_path / 'cache'}", "trainer.precision=fp32"], cwd=ROOT, env=env,
                  timeout=120)
    assert time.perf_counter() - start < 60
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "Retry" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) <= 4, out.stderr
    assert lines[-1].startswith("error: cannot load the dataset wmt/wmt14")
    assert "seems offline" in lines[-1] and all(way in lines[-1] for way in WAYS_FORWARD)
    assert not list((tmp_path / "cache").glob("*/meta.json"))  # nothing half-prepared was left as done
