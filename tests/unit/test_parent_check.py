"""``trainer.init_from`` is checked before any corpus is translated or prepared, under its own key."""

from __future__ import annotations

import pytest

from mt.config import train_config
from mt.train import setup
from mt.utils.dist import DistInfo
from mt.utils.errors import MTError
from tests.conftest import TINY


def _cfg(compose_cfg, tmp_path, parent: str):
    return train_config(compose_cfg([*TINY, f"data.cache_dir={tmp_path / 'cache'}", f"trainer.init_from={parent}"],
                                    tmp_path / "run", tmp_path))


def test_a_missing_parent_fails_first_naming_trainer_init_from(compose_cfg, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the corpus was translated or prepared before the parent was checked")

    monkeypatch.setattr(setup, "build_synthetic", no_work)
    monkeypatch.setattr(setup, "prepare_data", no_work)
    cfg = _cfg(compose_cfg, tmp_path, "missing/best.pt")
    with pytest.raises(MTError, match=r"trainer.init_from=missing/best.pt: .* does not exist"):
        setup.load_data(cfg, DistInfo(rank=0, world_size=1, local_rank=0))


def test_a_parent_without_weights_is_refused(compose_cfg, tmp_path):
    spm_file = tmp_path / "spm.model"
    spm_file.write_bytes(b"not read")
    with pytest.raises(MTError, match="SentencePiece .model file, which has no PyTorch weights"):
        setup.check_parent(_cfg(compose_cfg, tmp_path, str(spm_file)))
