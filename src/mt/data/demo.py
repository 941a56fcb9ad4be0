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
from collections.abc import Mapping, Sequence
from typing import NamedTuple


class Phrase(NamedTuple):
    """One fragment in both languages."""

    en: str
    de: str


class Subject(NamedTuple):
    """A clause subject; ``person`` indexes verb forms: 0 ich, 1 du, 2 er/sie, 3 wir, 4 sie (plural)."""

    en: str
    de: str
    person: int
    animal: bool = False
    """Animals eat with German ``fressen``, not ``essen``."""


class _Noun(NamedTuple):
    en_sg: str
    en_pl: str
    gender: str  # m, f or n
    de_sg: str
    de_pl: str
    tags: tuple[str, ...]


class _Adj(NamedTuple):
    en: str
    de: str  # predicative form: "teuer"
    stem: str  # attributive stem: "teur" + ending
    order: int  # English and German agree: opinion < size < age < colour
    tags: tuple[str, ...]


class _Verb(NamedTuple):
    en: tuple[str, str, str, str]  # base, 3sg, -ing ("" for stative verbs), simple past
    de: tuple[str, ...]  # infinitive, ich, du, er, participle, separable prefix
    tags: tuple[str, ...]  # noun tags allowed as object
    animate: bool  # an animal may be the subject


_GENERIC = ("animal", "food", "small", "large")


def _tags(field: str) -> tuple[str, ...]:
    return _GENERIC if field == "*" else tuple(field.split(","))


# en_sg en_pl gender de_sg de_pl tags; no weak masculines (they would need "den Bären" etc.).
_NOUNS = [_Noun(*row[:5], _tags(row[5])) for row in (line.split() for line in """
dog dogs m Hund Hunde animal|cat cats f Katze Katzen animal|horse horses n Pferd Pferde animal
bird birds m Vogel Vögel animal|cow cows f Kuh Kühe animal|duck ducks f Ente Enten animal
mouse mice f Maus Mäuse animal|pig pigs n Schwein Schweine animal|goat goats f Ziege Ziegen animal
rabbit rabbits n Kaninchen Kaninchen animal|chicken chickens n Huhn Hühner animal
frog frogs m Frosch Frösche animal|wolf wolves m Wolf Wölfe animal|fox foxes m Fuchs Füchse animal
owl owls f Eule Eulen animal|apple apples m Apfel Äpfel food|pear pears f Birne Birnen food
banana bananas f Banane Bananen food|cake cakes m Kuchen Kuchen food|egg eggs n Ei Eier food
cookie cookies m Keks Kekse food|orange oranges f Orange Orangen food
tomato tomatoes f Tomate Tomaten food|potato potatoes f Kartoffel Kartoffeln food
lemon lemons f Zitrone Zitronen food|carrot carrots f Karotte Karotten food
onion onions f Zwiebel Zwiebeln food|cherry cherries f Kirsche Kirschen food
sausage sausages f Wurst Würste food|ball balls m Ball Bälle small|plate plates m Teller Teller small
key keys m Schlüssel Schlüssel small|letter letters m Brief Briefe small,read|hat hats m Hut Hüte small
pen pens m Stift Stifte small|shoe shoes m Schuh Schuhe small|coat coats m Mantel Mäntel small
suitcase suitcases m Koffer Koffer small,open|umbrella umbrellas m Regenschirm Regenschirme small,open
bag bags f Tasche Taschen small,open|lamp lamps f Lampe Lampen small|clock clocks f Uhr Uhren small
bottle bottles f Flasche Flaschen small,open|box boxes f Kiste Kisten small,open|cup cups f Tasse Tassen small
newspaper newspapers f Zeitung Zeitungen small,read|jacket jackets f Jacke Jacken small
fork forks f Gabel Gabeln small|flower flowers f Blume Blumen small|book books n Buch Bücher small,read,open
picture pictures n Bild Bilder small|glass glasses n Glas Gläser small|shirt shirts n Hemd Hemden small
dress dresses n Kleid Kleider small|knife knives n Messer Messer small|toy toys n Spielzeug Spielzeuge small
phone phones n Telefon Telefone small|table tables m Tisch Tische large|chair chairs m Stuhl Stühle large
tree trees m Baum Bäume large|garden gardens m Garten Gärten large
computer computers m Computer Computer large
car cars n Auto Autos large|house houses n Haus Häuser large|bicycle bicycles n Fahrrad Fahrräder large
bed beds n Bett Betten large|window windows n Fenster Fenster large,open|door doors f Tür Türen large,open
boat boats n Boot Boote large|meeting meetings n Treffen Treffen event
concert concerts n Konzert Konzerte event
party parties f Party Partys event|exam exams f Prüfung Prüfungen event|game games n Spiel Spiele event
wedding weddings f Hochzeit Hochzeiten event|film films m Film Filme event|class classes m Kurs Kurse event
appointment appointments m Termin Termine event|market markets m Markt Märkte event
train trains m Zug Züge vehicle|bus buses m Bus Busse vehicle|plane planes n Flugzeug Flugzeuge vehicle
ship ships n Schiff Schiffe vehicle|ferry ferries f Fähre Fähren vehicle
tram trams f Straßenbahn Straßenbahnen vehicle|shop shops n Geschäft Geschäfte shop
bakery bakeries f Bäckerei Bäckereien shop|museum museums n Museum Museen shop
library libraries f Bibliothek Bibliotheken shop|bank banks f Bank Banken shop
pharmacy pharmacies f Apotheke Apotheken shop|supermarket supermarkets m Supermarkt Supermärkte shop
school schools f Schule Schulen shop|restaurant restaurants n Restaurant Restaurants shop
""".replace("|", "\n").split("\n") if line)]

# en de_predicative de_stem order tags
_ADJS = [_Adj(r[0], r[1], r[2], int(r[3]), _tags(r[4])) for r in (line.split() for line in """
beautiful schön schön 0 *|cheap billig billig 0 food,small,large|expensive teuer teur 0 *
clean sauber sauber 0 animal,small,large|hungry hungrig hungrig 0 animal|fast schnell schnell 0 animal
big groß groß 1 *|small klein klein 1 *|long lang lang 1 small,large|short kurz kurz 1 small,large
heavy schwer schwer 1 food,small,large|old alt alt 2 *|new neu neu 2 small,large|young jung jung 2 animal
fresh frisch frisch 2 food|red rot rot 3 *|blue blau blau 3 small,large|green grün grün 3 food,small,large
yellow gelb gelb 3 food,small,large|black schwarz schwarz 3 *|white weiß weiß 3 *|brown braun braun 3 *
dark dunkel dunkl 3 small,large|next nächste nächst 0 vehicle|last letzte letzt 0 vehicle
first erste erst 0 vehicle
""".replace("|", "\n").split("\n") if line)]

# English base/3sg/-ing/past | German infinitive ich du er participle [prefix] | object tags | animate
_VERBS = [
    _Verb(tuple(en.split("/")), tuple(de.split()) + (("",) if len(de.split()) == 5 else ()),
          _tags(tags), animate == "yes")
    for en, de, tags, animate in (line.split(" | ") for line in """
buy/buys/buying/bought | kaufen kaufe kaufst kauft gekauft | * | no
see/sees//saw | sehen sehe siehst sieht gesehen | * | yes
sell/sells/selling/sold | verkaufen verkaufe verkaufst verkauft verkauft | * | no
find/finds//found | finden finde findest findet gefunden | * | yes
need/needs//needed | brauchen brauche brauchst braucht gebraucht | food,small,large | no
have/has//had | haben habe hast hat gehabt | * | yes
carry/carries/carrying/carried | tragen trage trägst trägt getragen | food,small | yes
paint/paints/painting/painted | malen male malst malt gemalt | * | no
draw/draws/drawing/drew | zeichnen zeichne zeichnest zeichnet gezeichnet | * | no
wash/washes/washing/washed | waschen wasche wäschst wäscht gewaschen | animal,small,large | no
eat/eats/eating/ate | essen esse isst isst gegessen | food | yes
feed/feeds/feeding/fed | füttern füttere fütterst füttert gefüttert | animal | no
take/takes/taking/took | nehmen nehme nimmst nimmt genommen | food,small | no
bring/brings/bringing/brought | bringen bringe bringst bringt gebracht | animal,food,small | yes
open/opens/opening/opened | öffnen öffne öffnest öffnet geöffnet | open | no
read/reads/reading/read | lesen lese liest liest gelesen | read | no
love/loves//loved | lieben liebe liebst liebt geliebt | * | no
order/orders/ordering/ordered | bestellen bestelle bestellst bestellt bestellt | food,small | no
pick up/picks up/picking up/picked up | abholen hole holst holt abgeholt ab | animal,small | no
bring back/brings back/bringing back/brought back | zurückbringen bringe bringst bringt zurückgebracht zurück | animal,small | no
throw away/throws away/throwing away/threw away | wegwerfen werfe wirfst wirft weggeworfen weg | food,small | no
""".strip().split("\n"))
]
_ANIMAL_EAT = ("fressen", "fresse", "frisst", "frisst", "gefressen", "")

_NOUN_BY_EN = {n.en_sg: n for n in _NOUNS}
_ADJ_BY_EN = {a.en: a for a in _ADJS}
_VERB_BY_EN = {v.en[0]: v for v in _VERBS}
_GENERIC_NOUNS = [n for n in _NOUNS if n.tags[0] in _GENERIC]
_ANIMALS = [n for n in _NOUNS if "animal" in n.tags]
_VERB_OBJECTS = {v.en[0]: [n for n in _NOUNS if set(n.tags) & set(v.tags)] for v in _VERBS}
_NOUN_ADJS = {n.en_sg: [a for a in _ADJS if set(a.tags) & set(n.tags)] for n in _NOUNS}
_NOUNS_OF = {tag: [n for n in _NOUNS if tag in n.tags] for tag in ("event", "vehicle", "shop")}

# ------------------------------------------------------------------------------------------ numbers
_EN_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
_DE_UNITS = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
             "fünfzehn sechzehn siebzehn achtzehn neunzehn").split()
_DE_TENS = "- - zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
_MAX_NUMBER = 999_999


def _check_number(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _MAX_NUMBER:
        raise ValueError(f"numbers are spelled out for integers 0..{_MAX_NUMBER}, got {n!r}")


def number_to_english(n: int) -> str:
    """Spell ``n`` (0..999999) in American English: 345 -> "three hundred forty-five"."""
    _check_number(n)
    if n < 20:
        return _EN_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_UNITS[unit]}" if unit else "")
    big, rest, word = (n // 100, n % 100, "hundred") if n < 1000 else (n // 1000, n % 1000, "thousand")
    return f"{number_to_english(big)} {word}" + (f" {number_to_english(rest)}" if rest else "")


def _german_below_1000(n: int, inner: bool) -> str:
    """German for 0..999 as part of a longer word ("" for 0); ``inner``: after "tausend"."""
    hundreds, rest = divmod(n, 100)
    head = ""
    if hundreds:
        head = ("ein" if inner else "") if hundreds == 1 else _DE_UNITS[hundreds]
        head += "hundert"
    if rest == 0:
        return head
    if rest < 20:
        return head + _DE_UNITS[rest]
    tens, unit = divmod(rest, 10)
    if not unit:
        return head + _DE_TENS[tens]
    # Units come first: 21 -> "einundzwanzig" (with "ein", not "eins").
    return head + ("ein" if unit == 1 else _DE_UNITS[unit]) + "und" + _DE_TENS[tens]


def number_to_german(n: int) -> str:
    """Spell ``n`` (0..999999) in German as one word: 345 -> "dreihundertfünfundvierzig", 1 -> "eins"."""
    _check_number(n)
    if n == 0:
        return "null"
    thousands, rest = divmod(n, 1000)
    if not thousands:
        return _german_below_1000(rest, inner=False)
    head = _german_below_1000(thousands, inner=False)
    head = "" if thousands == 1 else head.removesuffix("s") if head.endswith("eins") else head
    return head + "tausend" + _german_below_1000(rest, inner=True)


# ----------------------------------------------------------------------------------- dates and times
_EN_MONTHS = ("January February March April May June July August September October November "
              "December").split()
_DE_MONTHS = "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
_EN_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_DE_DAYS = "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split()
_EN_ORDINALS = ("- first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
                "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
_DE_ORDINALS = "- erst zweit dritt viert fünft sechst siebt acht neunt zehnt elft zwölft".split()


def _ordinals(day: int) -> tuple[str, str]:
    """English ordinal and German ordinal stem (to which -en/-e is added): 3 -> third, dritt."""
    if day < 20:
        en = _EN_ORDINALS[day]
    else:
        tens, unit = divmod(day, 10)
        en = f"{_EN_TENS[tens]}-{_EN_ORDINALS[unit]}" if unit else _EN_TENS[tens][:-1] + "ieth"
    de = _DE_ORDINALS[day] if day < 13 else number_to_german(day) + ("t" if day < 20 else "st")
    return en, de


def date_phrase(
    day: int, month: int, year: int | None = None, style: str = "ordinal"
) -> tuple[str, str, str]:
    """A calendar date as (english, german after "am", german nominative).

    ``style="ordinal"``: "the third of March 2021" -> "dritten März 2021" / "dritte März 2021";
    ``style="numeric"``: "March 3, 2021" -> "3. März 2021" (both cases).
    """
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        raise ValueError(f"no such date: day {day} of month {month} (year {year})")
    year_en = f" {year}" if year is not None else ""
    if style == "numeric":
        de = f"{day}. {_DE_MONTHS[month - 1]}{year_en}"
        return f"{_EN_MONTHS[month - 1]} {day}" + (f", {year}" if year is not None else ""), de, de
    if style != "ordinal":
        raise ValueError(f"date style must be 'ordinal' or 'numeric', got {style!r}")
    en, stem = _ordinals(day)
    tail = f" {_DE_MONTHS[month - 1]}{year_en}"
    return f"the {en} of {_EN_MONTHS[month - 1]}{year_en}", stem + "en" + tail, stem + "e" + tail


def time_in_words(hour: int, minute: int, oclock: bool = False) -> Phrase:
    """A spoken clock time, without "at"/"um": (5, 30) -> "half past five" / "halb sechs".

    German names the *coming* hour for half hours and counts around the half hour for :25/:35
    ("fünf vor halb sechs"). ``minute`` is a multiple of 5; ``oclock`` adds "o'clock"/"Uhr" on the hour.
    """
    if not 1 <= hour <= 12 or minute not in range(0, 60, 5):
        raise ValueError(f"spoken times need hour 1..12 and minute 0, 5, ..., 55; got {hour}:{minute}")
    nxt = hour % 12 + 1
    en_h, de_h, en_n, de_n = _EN_UNITS[hour], _DE_UNITS[hour], _EN_UNITS[nxt], _DE_UNITS[nxt]
    if minute == 0:
        if not oclock:
            return Phrase(en_h, de_h)
        return Phrase(f"{en_h} o'clock", f"{'ein' if hour == 1 else de_h} Uhr")  # "ein Uhr", not "eins Uhr"
    if minute == 30:
        return Phrase(f"half past {en_h}", f"halb {de_n}")
    if minute == 25:
        return Phrase(f"twenty-five past {en_h}", f"fünf vor halb {de_n}")
    if minute == 35:
        return Phrase(f"twenty-five to {en_n}", f"fünf nach halb {de_n}")
    if minute < 30:
        en_m, de_m = ("quarter", "Viertel") if minute == 15 else (
            number_to_english(minute), number_to_german(minute))
        return Phrase(f"{en_m} past {en_h}", f"{de_m} nach {de_h}")
    en_m, de_m = ("quarter", "Viertel") if minute == 45 else (
        number_to_english(60 - minute), number_to_german(60 - minute))
    return Phrase(f"{en_m} to {en_n}", f"{de_m} vor {de_n}")


def digital_time(hour24: int, minute: int, show_minutes: bool = True) -> Phrase:
    """A 12-hour English clock time and its 24-hour German form: (19, 30) -> "7:30 pm" / "19:30 Uhr"."""
    if not 1 <= hour24 <= 23 or not 0 <= minute <= 59 or (minute and not show_minutes):
        raise ValueError(f"digital times need hour 1..23 and minute 0..59; got {hour24}:{minute}")
    h12, suffix = (hour24 - 12, "pm") if hour24 > 12 else (hour24, "pm" if hour24 == 12 else "am")
    if not show_minutes:
        return Phrase(f"{h12} {suffix}", f"{hour24} Uhr")
    return Phrase(f"{h12}:{minute:02d} {suffix}", f"{hour24}:{minute:02d} Uhr")


# -------------------------------------------------------------------------------------- noun phrases
_SLOTS = {"m": 0, "f": 1, "n": 2, "pl": 3}
_CASES = {"nom": 0, "acc": 1}
# Endings indexed [case][slot]: (m, f, n, pl).
_DER = (("der", "die", "das", "die"), ("den", "die", "das", "die"))
_DIESER = (("er", "e", "es", "e"), ("en", "e", "es", "e"))
_EIN = (("", "e", "", "e"), ("en", "e", "", "e"))
_WEAK = (("e", "e", "e", "en"), ("en", "e", "e", "en"))  # after der/dieser
_MIXED = (("er", "e", "es", "en"), ("en", "e", "es", "en"))  # after ein/kein/mein
_STRONG = (("", "", "", "e"), ("", "", "", "e"))  # no article; only plural occurs
POSSESSIVES = {"my": "mein", "your": "dein", "his": "sein", "her": "ihr", "our": "unser", "their": "ihr"}
_QUANTIFIERS = {"many": "viele", "some": "einige"}
_PLURAL_DETS = ("bare", "the_count", *_QUANTIFIERS)


def is_plural(det: str, plural: bool = False, count: int = 0) -> bool:
    """Whether a noun phrase with this determiner is plural (``count`` for "count"/"the_count")."""
    if det in _PLURAL_DETS:
        return True
    if det == "count":
        return count != 1
    return plural and det != "a"


def _determiner(det: str, slot: int, case: int, plural: bool, count: int) -> tuple[str, str, tuple]:
    """English word, German word and the adjective-ending table for one determiner."""
    if det == "the":
        return "the", _DER[case][slot], _WEAK
    if det == "this":
        return ("these" if plural else "this"), "dies" + _DIESER[case][slot], _WEAK
    if det in ("a", "no") or (det == "count" and count == 1):
        en = "one" if det == "count" else "any" if plural else "a"
        return en, ("kein" if det == "no" else "ein") + _EIN[case][slot], _MIXED
    if det in POSSESSIVES:
        return det, POSSESSIVES[det] + _EIN[case][slot], _MIXED
    if det in ("count", "the_count"):
        if count < 2 or (count > 100 and count % 100 == 1):
            raise ValueError(f"count {count} is not used before a noun (German would need 'ein')")
        en, de = number_to_english(count), number_to_german(count)
        if det == "the_count":
            return f"the {en}", f"die {de}", _WEAK
        return en, de, _STRONG
    if det in _QUANTIFIERS:
        return det, _QUANTIFIERS[det], _STRONG
    if det == "bare":
        return "", "", _STRONG
    raise ValueError(f"unknown determiner {det!r}")


def noun_phrase(noun: str, det: str = "the", *, case: str = "nom", plural: bool = False,
                adjectives: Sequence[str] = (), count: int = 0) -> Phrase:
    """Build an agreeing noun phrase: ("apple", "count", count=3, adjectives=["red"]) -> "drei rote Äpfel".

    ``noun`` is the English singular; ``det`` is one of the, this, a, no (kein; English "a"/"any"),
    a possessive (my, your, ...), count, the_count, many, some, bare. ``case`` is nom or acc.
    """
    if noun not in _NOUN_BY_EN or case not in _CASES or any(a not in _ADJ_BY_EN for a in adjectives):
        raise ValueError(
            f"noun_phrase: unknown noun {noun!r}, case {case!r} or adjective in {list(adjectives)}")
    entry, adjs = _NOUN_BY_EN[noun], [_ADJ_BY_EN[a] for a in adjectives]
    plural = is_plural(det, plural, count)
    slot, case_i = (3 if plural else _SLOTS[entry.gender]), _CASES[case]
    en_det, de_det, endings = _determiner(det, slot, case_i, plural, count)
    en_words = [a.en for a in adjs] + [entry.en_pl if plural else entry.en_sg]
    if en_det == "a" and en_words[0][0] in "aeiou":
        en_det = "an"
    de_words = [a.stem + endings[case_i][slot] for a in adjs] + [entry.de_pl if plural else entry.de_sg]
    return Phrase(" ".join([en_det, *en_words]).strip(), " ".join([de_det, *de_words]).strip())


# ------------------------------------------------------------------------------------------- clauses
PRONOUNS = {"I": Subject("I", "ich", 0), "you": Subject("you", "du", 1), "he": Subject("he", "er", 2),
            "she": Subject("she", "sie", 2), "we": Subject("we", "wir", 3), "they": Subject("they", "sie", 4)}
_EN_BE = ("am", "are", "is", "are", "are")
_EN_WAS = ("was", "were", "was", "were", "were")
_DE_AUX = {
    "future": ("werde", "wirst", "wird", "werden", "werden"),
    "perfect": ("habe", "hast", "hat", "haben", "haben"),
    "can": ("kann", "kannst", "kann", "können", "können"),
    "must": ("muss", "musst", "muss", "müssen", "müssen"),
    "want": ("will", "willst", "will", "wollen", "wollen"),
    "sein": ("bin", "bist", "ist", "sind", "sind"),
    "war": ("war", "warst", "war", "waren", "waren"),
    "wurde": ("wurde", "wurdest", "wurde", "wurden", "wurden"),
}
TENSES = ("present", "progressive", "future", "perfect", "modal")


def _english_verb(verb: _Verb, tense: str, person: int, negated: bool, modal: str) -> str:
    base, third, ing, past = verb.en
    is_third = person == 2
    if tense == "present":
        return (("does not " if is_third else "do not ") + base) if negated else (third if is_third else base)
    if tense == "progressive":
        return f"{_EN_BE[person]} {'not ' if negated else ''}{ing}"
    if tense == "future":
        return ("will not " if negated else "will ") + base
    if tense == "perfect":
        if negated:
            return "did not " + base
        # "I read the book" would be ambiguous between present and past; say "have read".
        return (("has " if is_third else "have ") + past) if past == base else past
    if negated and modal != "can":
        raise ValueError(f"only 'can' is negated ('cannot'); got modal {modal!r}")
    if modal == "want":
        return ("wants to " if is_third else "want to ") + base
    return {"can": "cannot " if negated else "can ", "must": "must "}[modal] + base


def clause(subject: Subject, verb: str, tense: str, obj: Phrase, *, adverbial: Phrase | None = None,
           negated: bool = False, fronted: bool = False, subordinate: bool = False,
           modal: str = "can") -> Phrase:
    """One transitive clause; German word order follows the clause type.

    Main: subject, finite verb, adverbial, object, nicht, then infinitive/participle/separable prefix.
    ``fronted``: the adverbial comes first and subject and finite verb swap (verb second).
    ``subordinate``: "that ..." -> "dass ...", with the finite verb last. ``obj`` is an accusative
    noun phrase; if it starts with "kein" it carries the negation and no "nicht" is added.
    """
    if tense not in TENSES or verb not in _VERB_BY_EN:
        raise ValueError(f"clause: unknown tense {tense!r} or verb {verb!r}; tenses are {TENSES}")
    entry = _VERB_BY_EN[verb]
    person = subject.person
    inf, ich, du, er, participle, prefix = _ANIMAL_EAT if subject.animal and verb == "eat" else entry.de
    en_verb = _english_verb(entry, tense, person, negated, modal)
    if tense in ("present", "progressive"):
        finite = (ich, du, er, inf[len(prefix):], inf[len(prefix):])[person]
        tail, sub_tail = prefix, prefix + finite
    else:
        finite = _DE_AUX[modal if tense == "modal" else tense][person]
        tail = participle if tense == "perfect" else inf
        sub_tail = f"{tail} {finite}"
    nicht = "nicht" if negated and obj.de.split(" ", 1)[0] not in ("kein", "keine", "keinen") else ""
    adv = adverbial or Phrase("", "")
    if subordinate:
        return Phrase(_join("that", subject.en, en_verb, obj.en, adv.en),
                      _join("dass", subject.de, adv.de, obj.de, nicht, sub_tail))
    if fronted and adverbial:
        return Phrase(_join(adv.en, subject.en, en_verb, obj.en),
                      _join(adv.de, finite, subject.de, obj.de, nicht, tail))
    return Phrase(_join(subject.en, en_verb, obj.en, adv.en),
                  _join(subject.de, finite, adv.de, obj.de, nicht, tail))


def _join(*words: str) -> str:
    return " ".join(w for w in words if w)


def _to_be(person: int, past: bool) -> tuple[str, str]:
    """ "is"/"ist", "were"/"waren", ... for a predicate."""
    return (_EN_WAS[person], _DE_AUX["war"][person]) if past else (_EN_BE[person], _DE_AUX["sein"][person])


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
    *((f"every {e}", f"jeden {d}", {"present", "modal"}) for e, d in zip(_EN_DAYS, _DE_DAYS, strict=True)),
    *((f"next {e}", f"nächsten {d}", {"future", "modal"}) for e, d in zip(_EN_DAYS, _DE_DAYS, strict=True)),
    *((f"last {e}", f"letzten {d}", {"perfect"}) for e, d in zip(_EN_DAYS, _DE_DAYS, strict=True)),
)
_RELATIVE_BY_TENSE = {t: [Phrase(e, d) for e, d, ok in _RELATIVE if t in ok] for t in TENSES}
_OWNERS = (*POSSESSIVES, *_NAMES)
_DAY_STARTS = (Phrase("today is", "heute ist"), Phrase("tomorrow is", "morgen ist"),
               Phrase("yesterday was", "gestern war"))
_MOVABLE_NOUNS = [n for n in _GENERIC_NOUNS if "large" not in n.tags]
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


def _sample_adjectives(rng: random.Random, noun: _Noun, minimum: int = 0) -> list[str]:
    options, r = _NOUN_ADJS[noun.en_sg], rng.random()
    if r < 0.4 and minimum == 0:
        return []
    first = rng.choice(options)
    if r < 0.87:
        return [first.en]
    second = rng.choice(options)
    if second.order == first.order:
        return [first.en]
    return [a.en for a in sorted((first, second), key=lambda a: a.order)]


def _sample_np(rng: random.Random, noun: _Noun, case: str, dets: _Choices,
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


def _sample_subject(rng: random.Random, verb: _Verb) -> Subject:
    if verb.animate and rng.random() < 0.25:
        phrase, plural = _sample_np(rng, rng.choice(_ANIMALS), "nom", _SUBJ_DETS)
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
    return Phrase(_join(*(p.en for p in phrases)), _join(*(p.de for p in phrases)))


def _at_time(rng: random.Random) -> Phrase:
    time = _sample_time(rng)
    return Phrase(f"at {time.en}", f"um {time.de}")


def _on_date(rng: random.Random, year_probability: float = 0.5) -> Phrase:
    en, dative, _ = _sample_date(rng, year_probability)
    return Phrase(f"on {en}", f"am {dative}")


def _on_day(rng: random.Random) -> Phrase:
    day = rng.randrange(7)
    return Phrase(f"on {_EN_DAYS[day]}", f"am {_DE_DAYS[day]}")


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
    verb = rng.choice(_VERBS)
    subject = _sample_subject(rng, verb)
    tense = _pick(rng, _TENSE_CHOICES)
    if tense == "progressive" and not verb.en[2]:
        tense = "present"  # no "I am seeing"
    modal = rng.choice(_MODALS)
    negated = rng.random() < 0.15 and (tense != "modal" or modal == "can")
    noun = rng.choice(_VERB_OBJECTS[verb.en[0]])
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
                      f"{matrix.de} {_DE_AUX['perfect'][matrix.person]} gesagt, {inner.de}")
    en_verb = en_forms[1] if matrix.person == 2 else en_forms[0]
    return Phrase(f"{matrix.en} {en_verb} {inner.en}", f"{matrix.de} {de_forms[matrix.person]}, {inner.de}")


def _noun_phrase_pair(rng: random.Random) -> Phrase:
    """A bare nominative noun phrase with at least one adjective: "a small house"."""
    return _sample_np(rng, rng.choice(_GENERIC_NOUNS), "nom", _SUBJ_DETS, min_adjectives=1)[0]


def _predicate_pair(rng: random.Random) -> Phrase:
    """ "the apples are very red" -> "die Äpfel sind sehr rot" (predicative adjectives do not inflect)."""
    noun = rng.choice(_GENERIC_NOUNS)
    subject, plural = _sample_np(rng, noun, "nom", _SUBJ_DETS)
    adj = rng.choice(_NOUN_ADJS[noun.en_sg])
    while adj.en in subject.en.split():
        adj = rng.choice(_NOUN_ADJS[noun.en_sg])
    en_verb, de_verb = _to_be(3 if plural else 2, past=rng.random() < 0.25)
    r = rng.random()
    en_mod, de_mod = ("not", "nicht") if r < 0.15 else ("very", "sehr") if r < 0.3 else ("", "")
    return Phrase(_join(subject.en, en_verb, en_mod, adj.en), _join(subject.de, de_verb, de_mod, adj.de))


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
                      f"{subject.de} {_DE_AUX['can'][p]} bis {de_n} zählen")
    en_verb = "counts" if p == 2 else "count"
    return Phrase(f"{subject.en} {en_verb} to {en_n}", f"{subject.de} {_ZAEHLEN[p]} bis {de_n}")


def _age_pair(rng: random.Random) -> Phrase:
    """ "the old dog is twelve years old" -> "der alte Hund ist zwölf Jahre alt"."""
    if rng.random() < 0.7:
        subject = _sample_person(rng)
    else:
        phrase, plural = _sample_np(rng, rng.choice(_ANIMALS), "nom", _AGE_DETS)
        subject = Subject(phrase.en, phrase.de, 4 if plural else 2, animal=True)
    n = rng.randint(1, 20 if subject.animal else 99)
    en_verb, de_verb = _to_be(subject.person, past=rng.random() < 0.25)
    if n == 1:
        return Phrase(f"{subject.en} {en_verb} one year old", f"{subject.de} {de_verb} ein Jahr alt")
    return Phrase(f"{subject.en} {en_verb} {number_to_english(n)} years old",
                  f"{subject.de} {de_verb} {number_to_german(n)} Jahre alt")


def _price_pair(rng: random.Random) -> Phrase:
    """ "the three red apples cost two euros" -> "die drei roten Äpfel kosten zwei Euro"."""
    item, plural = _sample_np(rng, rng.choice(_GENERIC_NOUNS), "nom", _PRICE_DETS)
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
    noun = rng.choice(_NOUNS_OF["event"])
    subject = noun_phrase(noun.en_sg, rng.choice(("the", "the", "this", *POSSESSIVES)))
    en_verb, finite, tail = rng.choice(_EVENT_VERBS)
    when = _sample_when(rng)
    return Phrase(f"{subject.en} {en_verb} {when.en}", _join(subject.de, finite, when.de, tail))


def _vehicle_pair(rng: random.Random) -> Phrase:
    """ "the last train left at 7 pm" -> "der letzte Zug ist um 19 Uhr abgefahren" (separable verbs)."""
    noun = rng.choice(_NOUNS_OF["vehicle"])
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
    return Phrase(f"{subject.en} {en_verb} {when.en}", _join(subject.de, finite, when.de, tail))


def _shop_pair(rng: random.Random) -> Phrase:
    """ "the bakery opens on Monday at 7 am" -> "die Bäckerei öffnet am Montag um 7 Uhr"."""
    noun = rng.choice(_NOUNS_OF["shop"])
    subject = noun_phrase(noun.en_sg, rng.choice(("the", "the", "this", "our")))
    en_verb, finite, tail = rng.choice(_SHOP_VERBS)
    when = _at_time(rng) if rng.random() < 0.6 else _sample_when(rng)
    return Phrase(f"{subject.en} {en_verb} {when.en}", _join(subject.de, finite, when.de, tail))


def _clock_pair(rng: random.Random) -> Phrase:
    """ "it is half past five" -> "es ist halb sechs"."""
    time, past = _sample_time(rng), rng.random() < 0.2
    return Phrase(f"it {'was' if past else 'is'} {time.en}", f"es {'war' if past else 'ist'} {time.de}")


def _day_pair(rng: random.Random) -> Phrase:
    """ "today is the third of March" -> "heute ist der dritte März" (nominative ordinal)."""
    start = rng.choice(_DAY_STARTS)
    if rng.random() < 0.4:
        day = rng.randrange(7)
        return _cat(start, Phrase(_EN_DAYS[day], _DE_DAYS[day]))
    en, _, nominative = _sample_date(rng, 0.3)
    return _cat(start, Phrase(en, f"der {nominative}"))


def _birthday_pair(rng: random.Random) -> Phrase:
    """ "Anna's birthday is on the third of March" -> "Annas Geburtstag ist am dritten März"."""
    owner = rng.choice(_OWNERS)
    en_owner, de_owner = (owner, POSSESSIVES[owner]) if owner in POSSESSIVES else (f"{owner}'s", f"{owner}s")
    en_verb, finite, tail = rng.choice((("is", "ist", ""), ("was", "war", ""), ("will be", "wird", "sein")))
    when = _on_date(rng, 0.0) if rng.random() < 0.8 else _sample_when(rng)
    return Phrase(f"{en_owner} birthday {en_verb} {when.en}",
                  _join(de_owner, "Geburtstag", finite, when.de, tail))


def _born_pair(rng: random.Random) -> Phrase:
    """ "I was born in 1990" -> "ich wurde 1990 geboren" (German has no "in" before a year)."""
    person = _sample_person(rng)
    if rng.random() < 0.7:
        when = _on_date(rng, 0.7)
    else:
        year = rng.randint(1900, 2030)
        when = Phrase(f"in {year}", str(year))
    return Phrase(f"{person.en} {_EN_WAS[person.person]} born {when.en}",
                  f"{person.de} {_DE_AUX['wurde'][person.person]} {when.de} geboren")


def _meeting_pair(rng: random.Random) -> Phrase:
    """Reflexive "treffen": "we will meet on Friday" -> "wir werden uns am Freitag treffen"."""
    person = _sample_person(rng)
    if person.person not in (3, 4):
        person = PRONOUNS[rng.choice(("we", "they"))]
    p, reflexive = person.person, "uns" if person.person == 3 else "sich"
    tense = rng.choice(("present", "future", "perfect"))
    when = _sample_when(rng, tense)
    en_verb, finite, tail = {"present": ("meet", "treffen", ""), "future": ("will meet", "werden", "treffen"),
                             "perfect": ("met", _DE_AUX["perfect"][p], "getroffen")}[tense]
    if rng.random() < 0.25:  # fronted adverbial: verb second; "sich" goes before a named subject
        middle = (person.de, reflexive) if person in PRONOUNS.values() else (reflexive, person.de)
        return Phrase(f"{when.en} {person.en} {en_verb}", _join(when.de, finite, *middle, tail))
    return Phrase(f"{person.en} {en_verb} {when.en}", _join(person.de, finite, reflexive, when.de, tail))


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
