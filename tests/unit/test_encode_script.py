"""scripts/encode.py: the pieces and ids mt feeds a model, for any model format, on either side."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_cli

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory):
    from tests.unit.test_marian_import import _opus_dir

    return _opus_dir(tmp_path_factory.mktemp("encode"), separate=False)


def _encode(args: list[str], lines: list[str]):
    return run_cli(["scripts/encode.py", *args], cwd=ROOT, stdin="".join(line + "\n" for line in lines))


def test_target_ids_are_marian_tokenizers_and_the_summary_counts_what_is_not_covered(marian_dir):
    from tests.unit.test_marian_import import EN, ZH

    hf_tok = transformers.MarianTokenizer.from_pretrained(str(marian_dir))
    out = _encode([f"model={marian_dir}", "side=tgt", "ids=true"], ZH[:50])
    assert out.returncode == 0, out.stderr
    rows = [[int(i) for i in line.split()] for line in out.stdout.splitlines()]
    assert rows == [ids[:-1] for ids in hf_tok(text_target=ZH[:50])["input_ids"]]  # without </s>
    assert "marian" in out.stderr and "50 lines" in out.stderr

    pieces = _encode([f"model={marian_dir}", "side=src"], EN[:3])
    assert pieces.stdout.splitlines()[0].split() == hf_tok.convert_ids_to_tokens(hf_tok(EN[0])["input_ids"][:-1])
    # Chinese through the English source model: the summary shows it is not covered.
    wrong_side = _encode([f"model={marian_dir}", "side=src"], ZH[:20])
    share = float(wrong_side.stderr.split("(")[-1].split("%")[0])
    assert share > 20


def test_a_sentencepiece_file_and_bad_arguments(marian_dir, tmp_path):
    from mt.config import TokenizerConfig
    from mt.data.tokenizer import train_tokenizer
    from tests.unit.test_marian_import import EN

    (tmp_path / "en.txt").write_text("\n".join(EN) + "\n", encoding="utf-8")
    train_tokenizer([tmp_path / "en.txt"], TokenizerConfig(vocab_size=500), tmp_path / "plain")
    spm_file = tmp_path / "plain.model"
    out = _encode([f"model={spm_file}"], ["a man is riding a bike"])
    assert out.returncode == 0 and out.stdout.split()[0].startswith("▁")
    for args, message in ((["side=src"], "model=PATH is required"), ([f"model={spm_file}", "side=x"], "side='x'"),
                          ([f"model={tmp_path / 'missing'}"], "does not exist"), (["colour=red"], "unknown argument")):
        bad = _encode(args, ["x"])
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    assert "model=PATH" in _encode(["--help"], []).stdout


def test_formats_are_told_by_content_not_only_by_name(tmp_path):
    """A checkpoint saved under another suffix is still a checkpoint; a file that is neither is a
    SentencePiece model; a path that does not exist names the formats mt reads."""
    import torch

    from mt.data.errors import DataError
    from mt.data.formats import model_format

    torch.save({"model": {}}, tmp_path / "parent.ckpt")
    (tmp_path / "spm.model").write_bytes(b"\n\x05hello")
    assert model_format(tmp_path / "parent.ckpt") == "checkpoint"
    assert model_format(tmp_path / "spm.model") == "sentencepiece"
    with pytest.raises(DataError, match="does not exist; mt reads an mt checkpoint"):
        model_format(tmp_path / "missing")
