"""The grammar of the demo corpus: word lists and the pure builders that render one fragment
(a number, a date, a time, a noun phrase, a clause) in English and German at once.

``mt.data.demo.corpus`` samples from these to generate the corpus; see its docstring for the task.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
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


class Noun(NamedTuple):
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


class Verb(NamedTuple):
    en: tuple[str, str, str, str]  # base, 3sg, -ing ("" for stative verbs), simple past
    de: tuple[str, ...]  # infinitive, ich, du, er, participle, separable prefix
    tags: tuple[str, ...]  # noun tags allowed as object
    animate: bool  # an animal may be the subject


_GENERIC = ("animal", "food", "small", "large")


def _tags(field: str) -> tuple[str, ...]:
    return _GENERIC if field == "*" else tuple(field.split(","))


# en_sg en_pl gender de_sg de_pl tags; no weak masculines (they would need "den Bären" etc.).
_NOUNS = [Noun(*row[:5], _tags(row[5])) for row in (line.split() for line in """
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
VERBS = [
    Verb(tuple(en.split("/")), tuple(de.split()) + (("",) if len(de.split()) == 5 else ()),
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
_VERB_BY_EN = {v.en[0]: v for v in VERBS}
GENERIC_NOUNS = [n for n in _NOUNS if n.tags[0] in _GENERIC]
ANIMALS = [n for n in _NOUNS if "animal" in n.tags]
VERB_OBJECTS = {v.en[0]: [n for n in _NOUNS if set(n.tags) & set(v.tags)] for v in VERBS}
NOUN_ADJS = {n.en_sg: [a for a in _ADJS if set(a.tags) & set(n.tags)] for n in _NOUNS}
NOUNS_OF = {tag: [n for n in _NOUNS if tag in n.tags] for tag in ("event", "vehicle", "shop")}

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
EN_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
DE_DAYS = "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split()
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
EN_WAS = ("was", "were", "was", "were", "were")
DE_AUX = {
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


def _english_verb(verb: Verb, tense: str, person: int, negated: bool, modal: str) -> str:
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
        finite = DE_AUX[modal if tense == "modal" else tense][person]
        tail = participle if tense == "perfect" else inf
        sub_tail = f"{tail} {finite}"
    nicht = "nicht" if negated and obj.de.split(" ", 1)[0] not in ("kein", "keine", "keinen") else ""
    adv = adverbial or Phrase("", "")
    if subordinate:
        return Phrase(join("that", subject.en, en_verb, obj.en, adv.en),
                      join("dass", subject.de, adv.de, obj.de, nicht, sub_tail))
    if fronted and adverbial:
        return Phrase(join(adv.en, subject.en, en_verb, obj.en),
                      join(adv.de, finite, subject.de, obj.de, nicht, tail))
    return Phrase(join(subject.en, en_verb, obj.en, adv.en),
                  join(subject.de, finite, adv.de, obj.de, nicht, tail))


def join(*words: str) -> str:
    return " ".join(w for w in words if w)


def to_be(person: int, past: bool) -> tuple[str, str]:
    """ "is"/"ist", "were"/"waren", ... for a predicate."""
    return (EN_WAS[person], DE_AUX["war"][person]) if past else (_EN_BE[person], DE_AUX["sein"][person])

