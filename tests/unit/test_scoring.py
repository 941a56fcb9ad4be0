"""Scoring as the literature does: references as the data holds them, and the papers' tokenized BLEU."""

import json
import subprocess
import sys

import pytest

from mt.data.clean import normalize_text
from mt.data.prepare import keep_references, load_prepared, prepare_data
from mt.eval.metrics import paper_tokenize, score_corpus, tokenized_bleu
from tests.conftest import ROOT
from tests.unit.test_prepare import configs, random_pairs, write_split

# References that NFKC and whitespace collapsing change: a ligature, a circled digit, full-width
# letters, a non-breaking space, double and trailing spaces.
RAW_REFS = ["Die ﬁnale Straße  ist ①", "ＡＢＣ\u00a0sagt  er .", "Rich-Text-Format für  alle ", "Ende"]
HYPS = ["Die finale Straße ist 1", "ABC sagt er.", "Rich-Text-Format für alle", "Ende"]


def sacrebleu_cli(hyp_path, ref_path) -> dict[str, dict]:
    """The scores and signatures that the ``sacrebleu`` command line prints for these files."""
    out = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref_path), "-i", str(hyp_path),
                          "-m", "bleu", "chrf", "ter", "-w", "4"], capture_output=True, text=True, check=True)
    return {entry["name"]: entry for entry in json.loads(out.stdout)}


def test_scores_against_prepared_references_equal_the_sacrebleu_command_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_split(corpus, "train", random_pairs(300, seed=1))
    write_split(corpus, "valid", random_pairs(3, seed=2))
    test_src = [f"source {i}" for i in range(len(RAW_REFS))]
    write_split(corpus, "test", list(zip(test_src, RAW_REFS, strict=True)))
    prepared = load_prepared(prepare_data(*configs(corpus), tmp_path, progress=False))

    # The references are the file's lines, byte for byte; the model's source side stays normalized.
    ref_path = prepared.reference_path("test")
    assert ref_path.read_bytes() == (corpus / "test.de").read_bytes()
    normalized = prepared.text_path("test", "de").read_text(encoding="utf-8").splitlines()
    assert normalized == [normalize_text(r, "NFKC") for r in RAW_REFS] != RAW_REFS

    hyp_path = tmp_path / "hyp.txt"
    hyp_path.write_text("".join(h + "\n" for h in HYPS), encoding="utf-8")
    refs = ref_path.read_text(encoding="utf-8").splitlines()
    ours, cli = score_corpus(HYPS, refs), sacrebleu_cli(hyp_path, corpus / "test.de")
    for name, key in (("BLEU", "bleu"), ("chrF2", "chrf"), ("TER", "ter")):
        assert round(ours[key], 4) == cli[name]["score"], name
        assert ours["signatures"][key] == cli[name]["signature"]
    # Scoring against the normalized text instead would have reported a different (higher) BLEU.
    assert score_corpus(HYPS, normalized)["bleu"] > ours["bleu"] + 10


def test_tokenized_bleu_by_hand():
    # After Moses tokenization and the compound split both sides have 9 tokens:
    #   hyp: Das ist ein Rich ##AT##-##AT## Text ##AT##-##AT## Format .
    #   ref: Das ist das Rich ##AT##-##AT## Text ##AT##-##AT## Format .
    # Matches: 8/9 unigrams (not "ein"), 6/8 bigrams, 4/7 trigrams, 3/6 4-grams; no brevity penalty.
    score, signature = tokenized_bleu(["Das ist ein Rich-Text-Format."], ["Das ist das Rich-Text-Format."], "de")
    assert score == pytest.approx(100 * (8 / 9 * 6 / 8 * 4 / 7 * 3 / 6) ** 0.25)
    assert signature.startswith("moses(de)+compound-split|nrefs:1|case:mixed|eff:no|tok:none|smooth:none|")
    # Without the split the compound is one token: 6 tokens, 5/6, 3/5, 1/4, 0/3 -> BLEU 0 (no smoothing).
    assert tokenized_bleu(["Das ist ein Rich-Text-Format."], ["Das ist das Rich-Text-Format."], "en")[0] == 0.0


def test_paper_tokenization_follows_tokenizer_perl_and_the_compound_split():
    assert paper_tokenize('Das Rich-Text-Format, "neu".', "de", True) == (
        "Das Rich ##AT##-##AT## Text ##AT##-##AT## Format , &quot; neu &quot; .")
    # The Perl substitution does not overlap: the "b" of "a-b" is consumed, so "b-c" stays whole.
    assert paper_tokenize("a-b-c z.B. (USA)", "de", True) == "a ##AT##-##AT## b-c z.B. ( USA )"
    assert paper_tokenize("l'homme là-bas.", "fr", False) == "l&apos; homme là-bas ."


def test_score_corpus_adds_the_tokenized_bleu_only_with_a_language():
    scores = score_corpus(HYPS, HYPS, lang="de")
    assert scores["bleu_tokenized"] == pytest.approx(100.0)
    assert scores["signatures"]["bleu_tokenized"].startswith("moses(de)+compound-split|")
    assert "bleu_tokenized" not in score_corpus(HYPS, HYPS)


def test_references_keep_everything_but_line_breaks(tmp_path):
    pairs = [("a", "  zwei  Leerzeichen "), ("b", "eine\nZeile"), ("c", "x\r\ny")]
    assert list(keep_references(iter(pairs), tmp_path / "ref.txt")) == pairs
    assert (tmp_path / "ref.txt").read_bytes().decode() == "  zwei  Leerzeichen \neine Zeile\nx y\n"


ZH_REFS = ["一个男人在公园里骑自行车。", "两只狗在雪地里玩耍。", "女孩在读一本关于猫的书。", "人们沿着街道走。"]
ZH_HYPS = ["一个男人在公园骑车。", "两只狗在雪里玩。", "那个女孩在看一本书。", "人们在街上走路。"]


def test_a_chinese_target_is_scored_as_the_sacrebleu_command_line_scores_it(tmp_path):
    """evaluate.py hyp=... langpair=en-zh against ``sacrebleu REF -i HYP -l en-zh``: the same scores
    and signatures (BLEU tokenized with sacreBLEU's zh tokenizer; 13a would see one word per line)."""
    hyp, ref = tmp_path / "hyp.zh", tmp_path / "ref.zh"
    hyp.write_text("\n".join(ZH_HYPS) + "\n", encoding="utf-8")
    ref.write_text("\n".join(ZH_REFS) + "\n", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-l", "en-zh", "-m", "bleu",
                          "chrf", "ter", "-w", "4", "--format", "json"], capture_output=True, text=True, check=True)
    expected = {entry["name"]: entry for entry in json.loads(cli.stdout)}
    out = subprocess.run([sys.executable, "evaluate.py", f"hyp={hyp}", f"ref={ref}", "langpair=en-zh"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    for name, label in (("BLEU", "BLEU"), ("chrF2", "chrF"), ("TER", "TER ")):
        line = next(x for x in out.stdout.splitlines() if x.startswith(f"{label} = "))
        score, signature = line.split("=", 1)[1].split()
        assert float(score) == pytest.approx(expected[name]["score"], abs=0.006), name
        assert signature == expected[name]["signature"], name
    assert "tok:zh" in expected["BLEU"]["signature"]
    assert score_corpus(ZH_HYPS, ZH_REFS, "zh")["bleu"] != score_corpus(ZH_HYPS, ZH_REFS)["bleu"]
