"""What mt needs to know about a language, in one place: how its text is split into words, how BLEU
tokenizes it, how much of its alphabet SentencePiece must cover, and whether the papers split its
compounds. A language not listed here is written with spaces and scored with sacreBLEU's ``13a``.

    zh, ja, th, ...  no spaces between words: cleaning counts characters, not words
    zh               BLEU with sacreBLEU's ``zh`` tokenizer (as WMT scores Chinese)
    ja, ko           BLEU with ``ja-mecab`` / ``ko-mecab`` (need the optional extras ``ja`` / ``ko``)
    zh, ja, ko       SentencePiece covers 99.95% of characters (the rarest become bytes, not pieces)
    de               the papers' tokenized BLEU splits hyphenated compounds

Adding a language is a line in ``LANGUAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    spaces: bool = True
    """Words are separated by spaces (else cleaning's length filters count characters)."""
    bleu_tokenizer: str = "13a"
    """sacreBLEU's tokenizer for this target language (its ``-tok``; ``-l xx-LANG`` picks the same)."""
    extra: str | None = None
    """The optional dependency group (``pip install -e ".[EXTRA]"``) the BLEU tokenizer needs."""
    character_coverage: float = 1.0
    """SentencePiece's ``character_coverage`` for corpora in this language."""
    compound_split: bool = False
    """The papers' tokenized BLEU splits hyphenated compounds (``##AT##-##AT##``)."""


_CJK_COVERAGE = 0.9995  # SentencePiece's own recommendation for languages with rich character sets

LANGUAGES: dict[str, Language] = {
    "zh": Language("zh", spaces=False, bleu_tokenizer="zh", character_coverage=_CJK_COVERAGE),
    "ja": Language("ja", spaces=False, bleu_tokenizer="ja-mecab", extra="ja", character_coverage=_CJK_COVERAGE),
    "ko": Language("ko", bleu_tokenizer="ko-mecab", extra="ko", character_coverage=_CJK_COVERAGE),
    "th": Language("th", spaces=False),
    "my": Language("my", spaces=False),
    "km": Language("km", spaces=False),
    "lo": Language("lo", spaces=False),
    "de": Language("de", compound_split=True),
}
"""Languages that differ from the defaults of ``Language``, by ISO 639-1 code."""


def language(code: str | None) -> Language:
    """The settings of ``code`` (``zh``, ``zh-Hans``, ``pt_BR`` ... by the part before the first
    ``-``/``_``); the defaults for an unknown or missing code."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return LANGUAGES.get(base, Language(base))


def length_units(text: str, lang: Language) -> int:
    """The length cleaning compares: words for languages written with spaces, characters (spaces
    excluded) for those without."""
    return len(text.split()) if lang.spaces else sum(not c.isspace() for c in text)
