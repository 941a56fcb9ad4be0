"""A ``data.pairs`` model exported to CTranslate2 and to Hugging Face keeps its directions: both
translate into the language that ``tgt_lang`` names (per run) or a line's own ``<2xx>`` tag names (per
line), with the same greedy output as mt's decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt.config import DecodeConfig, ExportConfig, translate_config
from mt.decode.load import load_for_inference
from mt.decode.run import translate_file, translate_nbest
from mt.export.run import export
from tests.conftest import ROOT, TINY, run_cli
from tests.unit.test_multilingual import write_corpus

LINES = ["a man sees the house", "<2de> two cats run", "the dog sees a man", "<2fr> a house"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("multi-export")
    corpus = write_corpus(tmp / "corpus", {"train": 600, "valid": 12, "test": 12})
    args = [a for a in TINY if not a.startswith("data.demo_sizes")]
    out = run_cli(["train.py", *args, "data=local", f"data.local_dir={corpus}", "data.pairs=[en-de,en-fr]",
                   "tokenizer.vocab_size=50", "tokenizer.byte_fallback=false", f"data.cache_dir={tmp / 'cache'}",
                   "trainer.max_steps=150", "optim.lr=3e-3", "trainer.valid_every=150", "trainer.save_every=150",
                   f"hydra.run.dir={tmp / 'run'}"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp / "run"


def _translate(tmp: Path, tgt_lang: str, **model) -> list[str]:
    src, out = tmp / "in.en", tmp / f"out-{tgt_lang}-{len(model)}.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    translate_file(translate_config({"input": str(src), "output": str(out), "tgt_lang": tgt_lang, "progress": False,
                                     "decode": {"beam_size": 1}, **model}))
    return out.read_text(encoding="utf-8").splitlines()


def test_exports_translate_into_the_language_asked_for_as_mt_does(run_dir, tmp_path):
    pytest.importorskip("ctranslate2")
    pytest.importorskip("transformers")
    from mt.export.hf import load_marian, marian_translate

    checkpoint = run_dir / "checkpoints" / "best.pt"
    ct2_dir, hf_dir = tmp_path / "ct2", tmp_path / "hf"
    export(ExportConfig(checkpoint=str(checkpoint), output=str(ct2_dir)))
    export(ExportConfig(checkpoint=str(checkpoint), format="huggingface", output=str(hf_dir)))
    for lang in ("de", "fr"):
        mt = _translate(tmp_path, lang, checkpoint=[str(checkpoint)])
        assert _translate(tmp_path, lang, backend="ctranslate2", model_dir=str(ct2_dir)) == mt
        assert _translate(tmp_path, lang, checkpoint=[str(hf_dir)]) == mt  # the HF directory keeps its pairs
    assert _translate(tmp_path, "de", checkpoint=[str(checkpoint)]) != _translate(
        tmp_path, "fr", checkpoint=[str(checkpoint)])

    # transformers alone, given the tags in the text, decodes what mt decodes.
    models, tokenizer, _ = load_for_inference([checkpoint], "cpu")
    tagged = [f"<2fr> {line}" for line in LINES if not line.startswith("<2")]
    reference = [h[0].tokens for h in translate_nbest(models, tokenizer, tagged, DecodeConfig(beam_size=1))]
    assert marian_translate(load_marian(hf_dir), tagged) == reference
