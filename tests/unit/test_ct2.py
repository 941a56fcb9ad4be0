"""The CTranslate2 backend on a tiny random model converted for real: which search it runs, and seeded
sampling. Agreement with mt's decoder on a trained model is in tests/smoke/test_export.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt.config import DecodeConfig
from mt.decode import ct2 as ct2_backend
from mt.decode.load import load_for_inference
from mt.decode.search import SEARCH
from mt.utils.errors import MTError
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences

pytest.importorskip("ctranslate2")

from mt.decode.ct2_convert import export_ctranslate2  # noqa: E402  (needs ctranslate2)

SAMPLING = DecodeConfig(sampling=True, max_len_a=0.0, max_len_b=12, device="cpu")
LINES = sentences(24, seed=5)


@pytest.fixture(scope="module")
def ct2_dir(tmp_path_factory) -> Path:
    """A random 1+1-layer model (near-uniform next-token distributions: samples differ by seed)."""
    root = tmp_path_factory.mktemp("ct2")
    checkpoint = make_checkpoint(root / "model.pt", make_tokenizer(root / "spm"))
    models, tokenizer, info = load_for_inference([checkpoint], "cpu")
    export_ctranslate2(models[0], tokenizer, info, root / "ct2", "none")
    return root / "ct2"


def _sample(ct2_dir: Path, seed: int, **load) -> list[list[int]]:
    model = ct2_backend.load_ct2(ct2_dir, "cpu", **load)
    ct2_backend.seed_sampling(model, seed)
    first = [hyps[0].tokens for hyps in ct2_backend.translate_nbest_ct2(model, LINES, SAMPLING, max_beam_rows=8)]
    ct2_backend.seed_sampling(model, seed)  # the same translator, drawn from again
    again = [hyps[0].tokens for hyps in ct2_backend.translate_nbest_ct2(model, LINES, SAMPLING, max_beam_rows=8)]
    assert again == first
    return first


def test_seeded_sampling_draws_the_same_translations(ct2_dir):
    """The same seed gives the same samples, in one process or another, on one worker or several
    (the batches go to whichever worker is free); another seed gives other samples."""
    one = _sample(ct2_dir, 7, threads=1)
    assert _sample(ct2_dir, 7, threads=2, intra_threads=1) == one
    assert _sample(ct2_dir, 8, threads=1) != one


def test_ctranslate2_runs_the_strategy_search_chooses(ct2_dir, monkeypatch):
    """Greedy, beam and sampling map onto CTranslate2's options; a strategy added to SEARCH that the
    backend cannot run is refused by name, not silently decoded as beam search."""
    model = ct2_backend.load_ct2(ct2_dir, "cpu", threads=1)
    greedy = ct2_backend.translate_nbest_ct2(model, LINES[:4], DecodeConfig(beam_size=1, max_len_b=8))
    assert all(len(hyps) == 1 for hyps in greedy)
    beam = ct2_backend.translate_nbest_ct2(model, LINES[:4], DecodeConfig(beam_size=3, nbest=3, max_len_b=8))
    assert all(len(hyps) == 3 for hyps in beam)
    monkeypatch.setitem(SEARCH, "typical", SEARCH["sample"])
    monkeypatch.setattr(ct2_backend, "search_name", lambda cfg: "typical")
    with pytest.raises(MTError, match=r"search strategy 'typical'.*decode\.sampling.*runs beam, greedy, sample"):
        ct2_backend.translate_nbest_ct2(model, LINES[:4], DecodeConfig())


def test_int8_models_batch_only_sources_of_one_length(ct2_dir, tmp_path):
    """An int8 export batches sources of one length (its kernels change a padded sentence's result),
    a float32 one mixes them; ct2_same_length overrides either. A line's translation is then the same
    alone as among other lines."""
    assert ct2_backend.padding_changes_results("int8_float32") and not ct2_backend.padding_changes_results("float32")
    assert not ct2_backend.load_ct2(ct2_dir, "cpu", threads=1).same_length
    assert ct2_backend.load_ct2(ct2_dir, "cpu", threads=1, same_length=True).same_length
    checkpoint = make_checkpoint(tmp_path / "model.pt", make_tokenizer(tmp_path / "spm"))
    models, tokenizer, info = load_for_inference([checkpoint], "cpu")
    export_ctranslate2(models[0], tokenizer, info, tmp_path / "int8", "int8")
    model = ct2_backend.load_ct2(tmp_path / "int8", "cpu", threads=2)
    assert model.same_length
    assert not ct2_backend.load_ct2(tmp_path / "int8", "cpu", threads=1, same_length=False).same_length
    cfg = DecodeConfig(beam_size=2, max_len_b=8)
    together = [hyps[0].tokens for hyps in ct2_backend.translate_nbest_ct2(model, LINES, cfg)]
    alone = [ct2_backend.translate_nbest_ct2(model, [line], cfg)[0][0].tokens for line in LINES]
    assert together == alone
