"""The built-in English->German demo corpus, generated offline from a small grammar.

The task is small but genuine translation: German composes numbers units-first, inflects articles
and adjectives for gender, number and case, shifts "half past five" to "halb sechs", puts the
non-finite verb (and separable prefixes) at the end of the clause, inverts subject and verb after a
fronted adverbial, and puts the finite verb last in "dass" clauses. Every English sentence has
exactly one German rendering, so a small Transformer can learn the mapping to near-perfection.
Casing: sentences start lower-case on both sides; "I", names, months, weekdays and German nouns
keep their capitals. No final punctuation.

The public builders (``noun_phrase``, ``clause``, ``time_in_words``, ...) are pure functions of
their arguments; only the samplers and ``generate_pair`` draw from a ``random.Random``.
"""

from __future__ import annotations

import bisect
import calendar
import random
from collections.abc import Mapping
from typing import NamedTuple

from mt.data.demo.grammar import (
    ANIMALS,
    DE_AUX,
    DE_DAYS,
    EN_DAYS,
    EN_WAS,
    GENERIC_NOUNS,
    NOUN_ADJS,
    NOUNS_OF,
    POSSESSIVES,
    PRONOUNS,
    TENSES,
    VERB_OBJECTS,
    VERBS,
    Noun,
    Phrase,
    Subject,
    Verb,
    clause,
    date_phrase,
    digital_time,
    is_plural,
    join,
    noun_phrase,
    number_to_english,
    number_to_german,
    time_in_words,
    to_be,
)


# ------------------------------------------------------------------------------------------ samplers
class _Choices(NamedTuple):
    cumulative: tuple[float, ...]
    values: tuple


def _choices(**weights: float) -> _Choices:
    total, cumulative = 0.0, []
    for w in weights.values():
        total += w
        cumulative.append(total)
    return _Choices(tuple(cumulative), tuple(weights))


def _pick(rng: random.Random, choices: _Choices):
    return choices.values[bisect.bisect(choices.cumulative, rng.random() * choices.cumulative[-1])]


_OBJ_DETS = _choices(the=30, a=16, poss=12, this=7, count=20, bare=6, many=3, some=3, the_count=3)
_NEG_DETS = _choices(the=35, this=8, poss=15, no=42)
_SUBJ_DETS = _choices(the=45, a=15, this=8, poss=10, count=17, the_count=5)
_THERE_DETS = _choices(a=40, count=40, many=8, some=8, bare=4)
_AGE_DETS = _choices(the=3, poss=1)
_PRICE_DETS = _choices(the=50, this=20, poss=15, the_count=15)
_TENSE_CHOICES = _choices(present=22, progressive=12, future=22, perfect=24, modal=20)
_MODALS = ("can", "can", "must", "want")
_ZAEHLEN = ("zähle", "zählst", "zählt", "zählen", "zählen")
_NAMES = "Anna Tom Maria Peter Lisa Paul Emma Ben Laura Jan Julia David Sarah Leon Mia Lena".split()
_ALL_TENSES = frozenset(TENSES)
_RELATIVE = (  # (english, german, tenses it fits)
    ("today", "heute", _ALL_TENSES), ("tomorrow", "morgen", {"future", "modal", "progressive"}),
    ("yesterday", "gestern", {"perfect"}), ("next week", "nächste Woche", {"future", "modal"}),
    ("last week", "letzte Woche", {"perfect"}),
    *((f"every {e}", f"jeden {d}", {"present", "modal"}) for e, d in zip(EN_DAYS, DE_DAYS, strict=True)),
    *((f"next {e}", f"nächsten {d}", {"future", "modal"}) for e, d in zip(EN_DAYS, DE_DAYS, strict=True)),
    *((f"last {e}", f"letzten {d}", {"perfect"}) for e, d in zip(EN_DAYS, DE_DAYS, strict=True)),
)
_RELATIVE_BY_TENSE = {t: [Phrase(e, d) for e, d, ok in _RELATIVE if t in ok] for t in TENSES}
_OWNERS = (*POSSESSIVES, *_NAMES)
_DAY_STARTS = (Phrase("today is", "heute ist"), Phrase("tomorrow is", "morgen ist"),
               Phrase("yesterday was", "gestern war"))
_MOVABLE_NOUNS = [n for n in GENERIC_NOUNS if "large" not in n.tags]
_PLACES = [Phrase(*p.split(" = ")) for p in (
    "in the garden = im Garten", "in the kitchen = in der Küche", "on the table = auf dem Tisch",
    "in the box = in der Kiste", "in the house = im Haus", "in the car = im Auto",
    "on the chair = auf dem Stuhl", "behind the door = hinter der Tür", "under the bed = unter dem Bett")]


def _sample_count(rng: random.Random) -> int:
    r = rng.random()
    n = rng.randint(2, 12) if r < 0.6 else rng.randint(13, 99) if r < 0.9 else rng.randint(100, 999)
    return n + 1 if n > 100 and n % 100 == 1 else n  # "hunderteins Äpfel" is not German


def _sample_number(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.randint(0, 20)
    return rng.randint(21, 99) if r < 0.65 else rng.randint(100, 999) if r < 0.94 else rng.randint(1000, 9999)


def _sample_adjectives(rng: random.Random, noun: Noun, minimum: int = 0) -> list[str]:
    options, r = NOUN_ADJS[noun.en_sg], rng.random()
    if r < 0.4 and minimum == 0:
        return []
    first = rng.choice(options)
    if r < 0.87:
        return [first.en]
    second = rng.choice(options)
    if second.order == first.order:
        return [first.en]
    return [a.en for a in sorted((first, second), key=lambda a: a.order)]


def _sample_np(rng: random.Random, noun: Noun, case: str, dets: _Choices,
               min_adjectives: int = 0) -> tuple[Phrase, bool]:
    """A random agreeing noun phrase and whether it is plural."""
    det, count = _pick(rng, dets), 0
    if det == "count":
        count = 1 if rng.random() < 0.08 else _sample_count(rng)
    elif det == "the_count":
        count = rng.randint(2, 12)
    elif det == "poss":
        det = rng.choice(tuple(POSSESSIVES))
    plural = is_plural(det, rng.random() < 0.4, count)
    adjectives = _sample_adjectives(rng, noun, min_adjectives)
    return noun_phrase(noun.en_sg, det, case=case, plural=plural, adjectives=adjectives, count=count), plural


def _sample_person(rng: random.Random) -> Subject:
    """A pronoun, a name or two names."""
    r = rng.random()
    if r < 0.2:
        return Subject(*([rng.choice(_NAMES)] * 2), 2)
    if r < 0.28:
        first, second = rng.sample(_NAMES, 2)
        return Subject(f"{first} and {second}", f"{first} und {second}", 4)
    return PRONOUNS[rng.choice(("I", "you", "he", "she", "we", "they"))]


def _sample_subject(rng: random.Random, verb: Verb) -> Subject:
    if verb.animate and rng.random() < 0.25:
        phrase, plural = _sample_np(rng, rng.choice(ANIMALS), "nom", _SUBJ_DETS)
        return Subject(phrase.en, phrase.de, 4 if plural else 2, animal=True)
    return _sample_person(rng)


def _sample_time(rng: random.Random) -> Phrase:
    """A clock time without "at"/"um"."""
    r = rng.random()
    if r < 0.38:
        minute = rng.choice((0, 15, 30, 45)) if rng.random() < 0.4 else rng.randint(0, 59)
        return digital_time(rng.randint(1, 23), minute, show_minutes=minute > 0 or rng.random() < 0.5)
    if r < 0.97:
        minute = rng.choice((0, 0, 0, 30, 30, 30, 30, 15, 15, 45, 45, 5, 10, 20, 40, 50, 55, 25, 35))
        return time_in_words(rng.randint(1, 12), minute, oclock=rng.random() < 0.5)
    return Phrase("midnight", "Mitternacht")


def _sample_date(rng: random.Random, year_probability: float = 0.5) -> tuple[str, str, str]:
    month = rng.randint(1, 12)
    year = rng.randint(1950, 2035) if rng.random() < year_probability else None
    day = rng.randint(1, calendar.monthrange(year or 2000, month)[1])
    return date_phrase(day, month, year, "ordinal" if rng.random() < 0.5 else "numeric")


def _cat(*phrases: Phrase) -> Phrase:
    return Phrase(join(*(p.en for p in phrases)), join(*(p.de for p in phrases)))


def _at_time(rng: random.Random) -> Phrase:
    time = _sample_time(rng)
    return Phrase(f"at {time.en}", f"um {time.de}")


def _on_date(rng: random.Random, year_probability: float = 0.5) -> Phrase:
    en, dative, _ = _sample_date(rng, year_probability)
    return Phrase(f"on {en}", f"am {dative}")


def _on_day(rng: random.Random) -> Phrase:
    day = rng.randrange(7)
    return Phrase(f"on {EN_DAYS[day]}", f"am {DE_DAYS[day]}")


_WHEN = _choices(day=20, time=24, day_time=10, date=16, date_time=5, relative=18, relative_time=7)


def _sample_when(rng: random.Random, tense: str | None = None) -> Phrase:
    """A time adverbial ("on Monday at half past five"); "yesterday" etc. only when ``tense`` fits."""
    kind = _pick(rng, _WHEN)
    if kind.startswith("relative"):
        if tense is None:
            kind = "day_time" if kind == "relative_time" else "day"
        else:
            relative = rng.choice(_RELATIVE_BY_TENSE[tense])
            return _cat(relative, _at_time(rng)) if kind == "relative_time" else relative
    if kind == "time":
        return _at_time(rng)
    if kind.startswith("day"):
        return _cat(_on_day(rng), _at_time(rng)) if kind == "day_time" else _on_day(rng)
    return _cat(_on_date(rng), _at_time(rng)) if kind == "date_time" else _on_date(rng)


# ----------------------------------------------------------------------------------------- templates
def _clause_pair(rng: random.Random, subordinate: bool = False) -> Phrase:
    """A subject-verb-object clause with tense, optional negation and optional time adverbial."""
    verb = rng.choice(VERBS)
    subject = _sample_subject(rng, verb)
    tense = _pick(rng, _TENSE_CHOICES)
    if tense == "progressive" and not verb.en[2]:
        tense = "present"  # no "I am seeing"
    modal = rng.choice(_MODALS)
    negated = rng.random() < 0.15 and (tense != "modal" or modal == "can")
    noun = rng.choice(VERB_OBJECTS[verb.en[0]])
    obj, _ = _sample_np(rng, noun, "acc", _NEG_DETS if negated else _OBJ_DETS)
    adverbial = None if negated or rng.random() < 0.35 else _sample_when(rng, tense)
    fronted = rng.random() < 0.3 and not subordinate
    return clause(subject, verb.en[0], tense, obj, adverbial=adverbial, negated=negated,
                  fronted=fronted, subordinate=subordinate, modal=modal)


_SAY = ((("know", "knows"), ("weiß", "weißt", "weiß", "wissen", "wissen")),
        (("think", "thinks"), ("glaube", "glaubst", "glaubt", "glauben", "glauben")),
        (("say", "says"), ("sage", "sagst", "sagt", "sagen", "sagen")))


def _embedded_pair(rng: random.Random) -> Phrase:
    """ "she knows that ..." -> "sie weiß, dass ..." with the embedded verb last."""
    matrix, (en_forms, de_forms) = _sample_person(rng), rng.choice(_SAY)
    inner = _clause_pair(rng, subordinate=True)
    if en_forms[0] == "say" and rng.random() < 0.3:
        return Phrase(f"{matrix.en} said {inner.en}",
                      f"{matrix.de} {DE_AUX['perfect'][matrix.person]} gesagt, {inner.de}")
    en_verb = en_forms[1] if matrix.person == 2 else en_forms[0]
    return Phrase(f"{matrix.en} {en_verb} {inner.en}", f"{matrix.de} {de_forms[matrix.person]}, {inner.de}")


def _noun_phrase_pair(rng: random.Random) -> Phrase:
    """A bare nominative noun phrase with at least one adjective: "a small house"."""
    return _sample_np(rng, rng.choice(GENERIC_NOUNS), "nom", _SUBJ_DETS, min_adjectives=1)[0]


def _predicate_pair(rng: random.Random) -> Phrase:
    """ "the apples are very red" -> "die Äpfel sind sehr rot" (predicative adjectives do not inflect)."""
    noun = rng.choice(GENERIC_NOUNS)
    subject, plural = _sample_np(rng, noun, "nom", _SUBJ_DETS)
    adj = rng.choice(NOUN_ADJS[noun.en_sg])
    while adj.en in subject.en.split():
        adj = rng.choice(NOUN_ADJS[noun.en_sg])
    en_verb, de_verb = to_be(3 if plural else 2, past=rng.random() < 0.25)
    r = rng.random()
    en_mod, de_mod = ("not", "nicht") if r < 0.15 else ("very", "sehr") if r < 0.3 else ("", "")
    return Phrase(join(subject.en, en_verb, en_mod, adj.en), join(subject.de, de_verb, de_mod, adj.de))


def _there_is_pair(rng: random.Random) -> Phrase:
    """ "there are three red apples in the garden" -> "im Garten gibt es drei rote Äpfel" (accusative)."""
    obj, plural = _sample_np(rng, rng.choice(_MOVABLE_NOUNS), "acc", _THERE_DETS)
    past = rng.random() < 0.2
    en_verb = ("were" if plural else "was") if past else ("are" if plural else "is")
    de_verb = "gab" if past else "gibt"
    if rng.random() < 0.6:
        place = rng.choice(_PLACES)
        return Phrase(f"there {en_verb} {obj.en} {place.en}", f"{place.de} {de_verb} es {obj.de}")
    return Phrase(f"there {en_verb} {obj.en}", f"es {de_verb} {obj.de}")


_STATEMENTS = (Phrase("the number is", "die Zahl ist"), Phrase("the answer is", "die Antwort ist"),
               Phrase("the result is", "das Ergebnis ist"))
_OPERATORS = (Phrase("plus", "plus"), Phrase("minus", "minus"), Phrase("times", "mal"))


def _number_pair(rng: random.Random) -> Phrase:
    """ "the answer is forty-two" -> "die Antwort ist zweiundvierzig"."""
    n = _sample_number(rng)
    return _cat(rng.choice(_STATEMENTS), Phrase(number_to_english(n), number_to_german(n)))


def _arithmetic_pair(rng: random.Random) -> Phrase:
    """ "one plus twenty is twenty-one" -> "eins plus zwanzig ist einundzwanzig"."""
    op = rng.randrange(3)
    if op == 2:
        a, b = rng.randint(0, 12), rng.randint(0, 12)
    else:
        a, b = sorted((_sample_number(rng) % 1000, _sample_number(rng) % 1000), reverse=op == 1)
    c = (a + b, a - b, a * b)[op]
    en, de = number_to_english, number_to_german
    return Phrase(f"{en(a)} {_OPERATORS[op].en} {en(b)} is {en(c)}",
                  f"{de(a)} {_OPERATORS[op].de} {de(b)} ist {de(c)}")


def _counting_pair(rng: random.Random) -> Phrase:
    """ "she can count to ninety" -> "sie kann bis neunzig zählen"."""
    subject, n = _sample_person(rng), _sample_number(rng)
    en_n, de_n, p = number_to_english(n), number_to_german(n), subject.person
    if rng.random() < 0.3:
        return Phrase(f"{subject.en} can count to {en_n}",
                      f"{subject.de} {DE_AUX['can'][p]} bis {de_n} zählen")
    en_verb = "counts" if p == 2 else "count"
    return Phrase(f"{subject.en} {en_verb} to {en_n}", f"{subject.de} {_ZAEHLEN[p]} bis {de_n}")


def _age_pair(rng: random.Random) -> Phrase:
    """ "the old dog is twelve years old" -> "der alte Hund ist zwölf Jahre alt"."""
    if rng.random() < 0.7:
        subject = _sample_person(rng)
    else:
        phrase, plural = _sample_np(rng, rng.choice(ANIMALS), "nom", _AGE_DETS)
        subject = Subject(phrase.en, phrase.de, 4 if plural else 2, animal=True)
    n = rng.randint(1, 20 if subject.animal else 99)
    en_verb, de_verb = to_be(subject.person, past=rng.random() < 0.25)
    if n == 1:
        return Phrase(f"{subject.en} {en_verb} one year old", f"{subject.de} {de_verb} ein Jahr alt")
    return Phrase(f"{subject.en} {en_verb} {number_to_english(n)} years old",
                  f"{subject.de} {de_verb} {number_to_german(n)} Jahre alt")


def _price_pair(rng: random.Random) -> Phrase:
    """ "the three red apples cost two euros" -> "die drei roten Äpfel kosten zwei Euro"."""
    item, plural = _sample_np(rng, rng.choice(GENERIC_NOUNS), "nom", _PRICE_DETS)
    n = _sample_count(rng) if rng.random() < 0.95 else 1
    en_price, de_price = ("one euro", "einen Euro") if n == 1 else (
        f"{number_to_english(n)} euros", f"{number_to_german(n)} Euro")
    return Phrase(f"{item.en} {'cost' if plural else 'costs'} {en_price}",
                  f"{item.de} {'kosten' if plural else 'kostet'} {de_price}")


# (english verb, german finite verb, german verb-final part)
_EVENT_VERBS = (("is", "ist", ""), ("was", "war", ""), ("starts", "beginnt", ""), ("ends", "endet", ""),
                ("will be", "wird", "sein"), ("will start", "wird", "beginnen"),
                ("will end", "wird", "enden"), ("started", "hat", "begonnen"), ("ended", "hat", "geendet"))
_SHOP_VERBS = (("opens", "öffnet", ""), ("closes", "schließt", ""), ("will open", "wird", "öffnen"),
               ("will close", "wird", "schließen"), ("opened", "hat", "geöffnet"),
               ("closed", "hat", "geschlossen"))


def _event_pair(rng: random.Random) -> Phrase:
    """ "the concert will start at 8 pm" -> "das Konzert wird um 20 Uhr beginnen"."""
    noun = rng.choice(NOUNS_OF["event"])
    subject = noun_phrase(noun.en_sg, rng.choice(("the", "the", "this", *POSSESSIVES)))
    en_verb, finite, tail = rng.choice(_EVENT_VERBS)
    when = _sample_when(rng)
    return Phrase(f"{subject.en} {en_verb} {when.en}", join(subject.de, finite, when.de, tail))


def _vehicle_pair(rng: random.Random) -> Phrase:
    """ "the last train left at 7 pm" -> "der letzte Zug ist um 19 Uhr abgefahren" (separable verbs)."""
    noun = rng.choice(NOUNS_OF["vehicle"])
    adjectives = [rng.choice(("next", "last", "first"))] if rng.random() < 0.4 else []
    det = "the" if adjectives else rng.choice(("the", "our", "my", "this"))
    subject = noun_phrase(noun.en_sg, det, adjectives=adjectives)
    leave, tense, fly = rng.random() < 0.5, rng.randrange(3), noun.en_sg == "plane"
    if leave:
        en_verb = ("leaves", "will leave", "left")[tense]
        prefix, stem, present, participle = ("ab", "fliegen", "fliegt", "abgeflogen") if fly else (
            "ab", "fahren", "fährt", "abgefahren")
    else:
        en_verb = ("arrives", "will arrive", "arrived")[tense]
        prefix, stem, present, participle = "an", "kommen", "kommt", "angekommen"
    finite, tail = ((present, prefix), ("wird", prefix + stem), ("ist", participle))[tense]
    when = _at_time(rng) if rng.random() < 0.6 else _sample_when(rng)
    return Phrase(f"{subject.en} {en_verb} {when.en}", join(subject.de, finite, when.de, tail))


def _shop_pair(rng: random.Random) -> Phrase:
    """ "the bakery opens on Monday at 7 am" -> "die Bäckerei öffnet am Montag um 7 Uhr"."""
    noun = rng.choice(NOUNS_OF["shop"])
    subject = noun_phrase(noun.en_sg, rng.choice(("the", "the", "this", "our")))
    en_verb, finite, tail = rng.choice(_SHOP_VERBS)
    when = _at_time(rng) if rng.random() < 0.6 else _sample_when(rng)
    return Phrase(f"{subject.en} {en_verb} {when.en}", join(subject.de, finite, when.de, tail))


def _clock_pair(rng: random.Random) -> Phrase:
    """ "it is half past five" -> "es ist halb sechs"."""
    time, past = _sample_time(rng), rng.random() < 0.2
    return Phrase(f"it {'was' if past else 'is'} {time.en}", f"es {'war' if past else 'ist'} {time.de}")


def _day_pair(rng: random.Random) -> Phrase:
    """ "today is the third of March" -> "heute ist der dritte März" (nominative ordinal)."""
    start = rng.choice(_DAY_STARTS)
    if rng.random() < 0.4:
        day = rng.randrange(7)
        return _cat(start, Phrase(EN_DAYS[day], DE_DAYS[day]))
    en, _, nominative = _sample_date(rng, 0.3)
    return _cat(start, Phrase(en, f"der {nominative}"))


def _birthday_pair(rng: random.Random) -> Phrase:
    """ "Anna's birthday is on the third of March" -> "Annas Geburtstag ist am dritten März"."""
    owner = rng.choice(_OWNERS)
    en_owner, de_owner = (owner, POSSESSIVES[owner]) if owner in POSSESSIVES else (f"{owner}'s", f"{owner}s")
    en_verb, finite, tail = rng.choice((("is", "ist", ""), ("was", "war", ""), ("will be", "wird", "sein")))
    when = _on_date(rng, 0.0) if rng.random() < 0.8 else _sample_when(rng)
    return Phrase(f"{en_owner} birthday {en_verb} {when.en}",
                  join(de_owner, "Geburtstag", finite, when.de, tail))


def _born_pair(rng: random.Random) -> Phrase:
    """ "I was born in 1990" -> "ich wurde 1990 geboren" (German has no "in" before a year)."""
    person = _sample_person(rng)
    if rng.random() < 0.7:
        when = _on_date(rng, 0.7)
    else:
        year = rng.randint(1900, 2030)
        when = Phrase(f"in {year}", str(year))
    return Phrase(f"{person.en} {EN_WAS[person.person]} born {when.en}",
                  f"{person.de} {DE_AUX['wurde'][person.person]} {when.de} geboren")


def _meeting_pair(rng: random.Random) -> Phrase:
    """Reflexive "treffen": "we will meet on Friday" -> "wir werden uns am Freitag treffen"."""
    person = _sample_person(rng)
    if person.person not in (3, 4):
        person = PRONOUNS[rng.choice(("we", "they"))]
    p, reflexive = person.person, "uns" if person.person == 3 else "sich"
    tense = rng.choice(("present", "future", "perfect"))
    when = _sample_when(rng, tense)
    en_verb, finite, tail = {"present": ("meet", "treffen", ""), "future": ("will meet", "werden", "treffen"),
                             "perfect": ("met", DE_AUX["perfect"][p], "getroffen")}[tense]
    if rng.random() < 0.25:  # fronted adverbial: verb second; "sich" goes before a named subject
        middle = (person.de, reflexive) if person in PRONOUNS.values() else (reflexive, person.de)
        return Phrase(f"{when.en} {person.en} {en_verb}", join(when.de, finite, *middle, tail))
    return Phrase(f"{person.en} {en_verb} {when.en}", join(person.de, finite, reflexive, when.de, tail))


# ------------------------------------------------------------------------------------------- corpus
_TEMPLATES = _choices(
    clause=34, embedded=10, noun_phrase=5, predicate=5, there_is=5, number=3, arithmetic=4, counting=2.5,
    age=3, price=2.5, event=5, vehicle=4, shop=3, clock=3, day=2, birthday=3, born=2.5, meeting=3,
)
_TEMPLATE_FUNCTIONS = {
    "clause": _clause_pair, "embedded": _embedded_pair, "noun_phrase": _noun_phrase_pair,
    "predicate": _predicate_pair, "there_is": _there_is_pair, "number": _number_pair,
    "arithmetic": _arithmetic_pair, "counting": _counting_pair, "age": _age_pair, "price": _price_pair,
    "event": _event_pair, "vehicle": _vehicle_pair, "shop": _shop_pair, "clock": _clock_pair,
    "day": _day_pair, "birthday": _birthday_pair, "born": _born_pair, "meeting": _meeting_pair,
}
MIN_WORDS, MAX_WORDS = 3, 25


def generate_pair(rng: random.Random) -> tuple[str, str]:
    """Draw one (english, german) sentence pair of 3..25 words per side."""
    while True:
        en, de = _TEMPLATE_FUNCTIONS[_pick(rng, _TEMPLATES)](rng)
        if MIN_WORDS <= en.count(" ") + 1 <= MAX_WORDS and MIN_WORDS <= de.count(" ") + 1 <= MAX_WORDS:
            return en, de


_MAX_MISSES = 10_000


def generate_demo_corpus(sizes: Mapping[str, int], seed: int) -> dict[str, list[tuple[str, str]]]:
    """Generate the demo corpus: ``sizes`` like {"train": 40000, "valid": 500, "test": 500}.

    Deterministic for (sizes, seed) on any Python >= 3.10: each split has its own generator seeded
    from the string "seed:split" (string seeding is hash-independent). Held-out splits are drawn
    first, in name order, so they do not change when the train size does; the splits are disjoint
    by English source and have no repeated source. Raises ValueError if a size is not a
    non-negative integer or if that many distinct sources cannot be drawn.
    """
    for split, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"data.demo_sizes.{split} must be a non-negative integer, got {size!r}")
    seen: set[str] = set()
    corpus: dict[str, list[tuple[str, str]]] = {}
    for split in sorted(sizes, key=lambda s: (s == "train", s)):
        rng, pairs, misses = random.Random(f"{seed}:{split}"), [], 0
        while len(pairs) < sizes[split]:
            en, de = generate_pair(rng)
            if en in seen:
                misses += 1
                if misses >= _MAX_MISSES:
                    raise ValueError(
                        f"the demo generator found only {len(seen)} distinct sentences ({len(pairs)} of "
                        f"{sizes[split]} for split {split!r}); lower data.demo_sizes"
                    )
                continue
            misses = 0
            seen.add(en)
            pairs.append((en, de))
        corpus[split] = pairs
    return {split: corpus[split] for split in sizes}
