"""The SentencePiece tokenizer, joint or one model per side: fixed special ids, round trips, serialization, errors."""

import pickle
import random

import numpy as np
import pytest

from mt.config import ConfigError, TokenizerConfig
from mt.data.errors import DataError
from mt.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, train_tokenizer

EN = "the a small big red house dog cat sees walks tree car green blue runs".split()
DE = "der die das klein groß rot Haus Hund Katze sieht läuft Baum Auto grün blau".split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = EN + DE
    return [" ".join(rng.choice(words) for _ in range(rng.randint(2, 8))) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    d = tmp_path_factory.mktemp("spm")
    (d / "a.txt").write_text("\n".join(sentences(300)) + "\n", encoding="utf-8")
    (d / "b.txt").write_text("\n".join(sentences(300, seed=1)) + "\n", encoding="utf-8")
    cfg = TokenizerConfig(vocab_size=60, byte_fallback=False)
    return train_tokenizer([d / "a.txt", d / "b.txt"], cfg, d / "spm")


def test_special_ids_are_fixed(tokenizer):
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert tokenizer.vocab_size == 60 == len(tokenizer)
    assert [tokenizer.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]


def test_round_trip_of_normalized_text(tokenizer):
    for text in ["the small red Hund sieht das Auto", "grün", "blau blau blau Baum"]:
        ids = tokenizer.encode(text)
        assert ids and BOS_ID not in ids and EOS_ID not in ids
        assert tokenizer.decode(ids) == text


def test_batch_calls_match_single_calls(tokenizer):
    texts = sentences(20, seed=5)
    batch = tokenizer.encode_batch(texts)
    assert batch == [tokenizer.encode(t) for t in texts]
    assert tokenizer.decode_batch(batch) == texts


def test_decode_ignores_pad_bos_eos_and_accepts_arrays(tokenizer):
    ids = tokenizer.encode("der Hund")
    padded = np.array([BOS_ID, *ids, EOS_ID, PAD_ID, PAD_ID])
    assert tokenizer.decode(padded) == "der Hund"
    assert tokenizer.decode_batch([padded, [BOS_ID, EOS_ID]]) == ["der Hund", ""]


def test_unknown_characters_become_unk_without_byte_fallback(tokenizer):
    assert UNK_ID in tokenizer.encode("ж")


def test_serialization_round_trip(tokenizer, tmp_path):
    clone = Tokenizer.from_bytes(tokenizer.to_bytes())
    assert clone.encode("das rote Haus") == tokenizer.encode("das rote Haus")
    unpickled = pickle.loads(pickle.dumps(tokenizer))
    assert unpickled.vocab_size == tokenizer.vocab_size
    assert unpickled.encode("grün") == tokenizer.encode("grün")


def test_byte_fallback_spells_unseen_characters_as_bytes(tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(sentences(300)) + "\n", encoding="utf-8")
    tok = train_tokenizer([tmp_path / "t.txt"], TokenizerConfig(vocab_size=300), tmp_path / "bf")
    ids = tok.encode("ж")
    assert UNK_ID not in ids and tok.decode(ids) == "ж"


def test_vocab_too_large_for_corpus_says_what_to_lower(tmp_path):
    (tmp_path / "t.txt").write_text("ab ba\n" * 20, encoding="utf-8")
    cfg = TokenizerConfig(vocab_size=5000, byte_fallback=False)
    with pytest.raises(ConfigError, match="tokenizer.vocab_size=5000 is too large.*lower tokenizer.vocab_size"):
        train_tokenizer([tmp_path / "t.txt"], cfg, tmp_path / "m")


def test_invalid_model_bytes_are_rejected():
    from mt.data.errors import DataError

    with pytest.raises(DataError, match="not a valid SentencePiece model"):
        Tokenizer.from_bytes(b"not a model")


def test_rare_characters_below_the_coverage_become_bytes_and_special_ids_hold(tmp_path):
    # As the WMT recipes train it: character_coverage < 1 with byte fallback. The characters of
    # a few noisy lines (as in CommonCrawl) get no piece of their own, yet still round-trip exactly.
    noisy = ["ein ☃ Schneemann", "Preis: 5 € ✓", "日本語 text"]
    (tmp_path / "t.txt").write_text("\n".join(sentences(2000) + noisy) + "\n", encoding="utf-8")
    cfg = TokenizerConfig(vocab_size=320, character_coverage=0.9995, byte_fallback=True)
    tok = train_tokenizer([tmp_path / "t.txt"], cfg, tmp_path / "cov")
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    pieces = {tok.id_to_piece(i) for i in range(tok.vocab_size)}
    assert "☃" not in pieces and "日" not in pieces and "<0xE2>" in pieces
    for line in noisy:
        ids = tok.encode(line)
        assert UNK_ID not in ids and tok.decode(ids) == line


@pytest.fixture(scope="module")
def separate(tmp_path_factory) -> Tokenizer:
    """One model per side: English pieces for the source, German for the target, of other sizes."""
    d = tmp_path_factory.mktemp("sides")
    rng = random.Random(3)
    for name, words in (("en", EN), ("de", DE)):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 8))) for _ in range(300)]
        (d / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    en = train_tokenizer([d / "en.txt"], TokenizerConfig(vocab_size=34, byte_fallback=False), d / "en")
    de = train_tokenizer([d / "de.txt"], TokenizerConfig(vocab_size=40, byte_fallback=False), d / "de")
    return Tokenizer(en.source, de.source)


def test_separate_sides_encode_and_decode_with_their_own_models(separate):
    assert not separate.joint and not separate.shared_vocab
    assert (separate.src_vocab_size, separate.vocab_size) == (34, 40)
    source, target = "the small dog sees a tree", "der kleine Hund sieht das Haus"
    assert separate.decode_source(separate.encode(source)) == source
    assert separate.decode(separate.encode_target(target)) == target
    assert separate.encode_target(target) != separate.source.processor.encode(target)  # not the source model
    assert separate.id_to_piece(separate.encode_target("Hund")[-1]) != separate.source_piece(
        separate.encode_target("Hund")[-1])


def test_separate_sides_survive_bytes_and_pickling(separate):
    clone = Tokenizer.from_bytes(separate.to_bytes(), separate.target_bytes())
    again = pickle.loads(pickle.dumps(separate))
    for tok in (clone, again):
        assert (tok.src_vocab_size, tok.vocab_size) == (34, 40) and not tok.joint
        assert tok.encode_target("der Hund") == separate.encode_target("der Hund")
    assert Tokenizer.from_bytes(separate.to_bytes()).target_bytes() is None  # one model: joint


def test_sides_with_different_special_ids_are_refused(tokenizer, tmp_path):
    import sentencepiece as spm

    (tmp_path / "t.txt").write_text("\n".join(sentences(200)) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "other"),
                                   vocab_size=60, pad_id=3, unk_id=1, bos_id=2, eos_id=0, minloglevel=2)
    other = Tokenizer.from_file(tmp_path / "other.model")
    with pytest.raises(DataError, match="different special ids"):
        Tokenizer(tokenizer.source, other.source)
