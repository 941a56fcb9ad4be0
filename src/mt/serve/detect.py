"""Language identifiers for ``source=auto`` and ``/detect``, by the name ``language_id`` takes.

An identifier is limited to the model's source languages: it answers which of them a text is in,
never a language the model cannot translate from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mt.utils.errors import MTError
from mt.utils.extras import require
from mt.utils.languages import normalize

Identifier = Callable[[str], list[tuple[str, float]]]
"""A text -> the model's source languages it may be in, most likely first, with a confidence in [0, 100]."""


def _langid(languages: Sequence[str]) -> Identifier:
    """langid.py (Lui and Baldwin 2012) with normalized probabilities, over ``languages``."""
    langid = require("langid.langid", "serve", "language_id=langid")

    identifier = langid.LanguageIdentifier.from_modelstring(langid.model, norm_probs=True)
    by_base = {normalize(code).split("-")[0]: code for code in languages}
    known = [base for base in by_base if base in identifier.nb_classes]
    if not known:
        raise MTError(f"language_id=langid knows none of this model's source languages ({', '.join(languages)})")
    identifier.set_languages(known)

    def identify(text: str) -> list[tuple[str, float]]:
        if len(known) == 1:
            return [(by_base[known[0]], 100.0)]
        return [(by_base[base], round(100.0 * float(p), 2)) for base, p in identifier.rank(text)]
    return identify


IDENTIFIERS: dict[str, Callable[[Sequence[str]], Identifier]] = {"langid": _langid}
"""``language_id`` -> a builder of the identifier over the model's source languages."""


def check_identifier(name: str | None) -> None:
    """An MTError naming the registry's keys unless ``name`` is one of them (or None)."""
    if name is not None and name not in IDENTIFIERS:
        raise MTError(f"language_id={name!r} is not one of {', '.join(sorted(IDENTIFIERS))} (or null)")


def language_identifier(name: str | None, languages: Sequence[str]) -> Identifier | None:
    """The identifier ``language_id`` names, over ``languages``; None for null."""
    check_identifier(name)
    return None if name is None else IDENTIFIERS[name](languages)
