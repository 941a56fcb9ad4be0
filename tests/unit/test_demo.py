"""The demo corpus generator: determinism, splits, and hand-checked German."""

from __future__ import annotations

import random

import pytest

from mt.data.demo import corpus as demo
from mt.data.demo.corpus import (
    PRONOUNS,
    Phrase,
    Subject,
    clause,
    date_phrase,
    digital_time,
    generate_demo_corpus,
    generate_pair,
    noun_phrase,
    number_to_english,
    number_to_german,
    time_in_words,
)

SIZES = {"train": 4000, "valid": 300, "test": 300}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[tuple[str, str]]]:
    return generate_demo_corpus(SIZES, seed=1234)


# ------------------------------------------------------------------------------------------ corpus
def test_same_seed_gives_identical_corpus(corpus):
    assert generate_demo_corpus(SIZES, seed=1234) == corpus


def test_different_seed_gives_different_corpus(corpus):
    other = generate_demo_corpus(SIZES, seed=1235)
    for split in SIZES:
        assert other[split] != corpus[split]


def test_exact_sizes_and_key_order(corpus):
    assert list(corpus) == list(SIZES)
    assert {split: len(pairs) for split, pairs in corpus.items()} == SIZES


def test_splits_are_disjoint_and_free_of_duplicates(corpus):
    sources = [en for pairs in corpus.values() for en, _ in pairs]
    assert len(sources) == len(set(sources))


def test_held_out_splits_do_not_depend_on_train_size_or_key_order(corpus):
    other = generate_demo_corpus({"test": 300, "train": 100, "valid": 300}, seed=1234)
    assert other["valid"] == corpus["valid"]
    assert other["test"] == corpus["test"]
    assert set(other["train"]).isdisjoint(corpus["test"] + corpus["valid"])


def test_every_pair_has_3_to_30_words_per_side(corpus):
    for pairs in corpus.values():
        for en, de in pairs:
            assert 3 <= len(en.split()) <= 30, en
            assert 3 <= len(de.split()) <= 30, de


def test_each_english_sentence_has_exactly_one_german_translation():
    rng = random.Random(7)
    translations: dict[str, str] = {}
    for _ in range(30_000):
        en, de = generate_pair(rng)
        assert translations.setdefault(en, de) == de, f"{en!r} -> {translations[en]!r} and {de!r}"


def test_corpus_covers_the_advertised_phenomena(corpus):
    german = "\n".join(de for _, de in corpus["train"])
    for marker in (" halb ", "Viertel vor", ":", " Uhr", "dass ", "am Montag", "Jahre alt", "und", "hundert",
                   "einen ", "kein", " rote ", "März"):
        assert marker in german, marker


def test_impossible_sizes_raise_a_clear_error(monkeypatch):
    pairs = [(f"sentence number {i}", f"Satz Nummer {i}") for i in range(5)]
    monkeypatch.setattr(demo, "generate_pair", lambda rng: rng.choice(pairs))
    monkeypatch.setattr(demo, "_MAX_MISSES", 200)
    with pytest.raises(ValueError, match="only 5 distinct sentences.*lower data.demo_sizes"):
        generate_demo_corpus({"train": 4, "test": 2}, seed=0)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "10"])
def test_bad_sizes_are_rejected(bad):
    with pytest.raises(ValueError, match="data.demo_sizes.train"):
        generate_demo_corpus({"train": bad}, seed=0)


# ----------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("n", "german"),
    [(0, "null"), (1, "eins"), (7, "sieben"), (11, "elf"), (12, "zwölf"), (16, "sechzehn"),
     (17, "siebzehn"), (20, "zwanzig"), (21, "einundzwanzig"), (30, "dreißig"), (45, "fünfundvierzig"),
     (60, "sechzig"), (99, "neunundneunzig"), (100, "hundert"), (101, "hunderteins"), (110, "hundertzehn"),
     (345, "dreihundertfünfundvierzig"), (999, "neunhundertneunundneunzig"), (1000, "tausend"),
     (1100, "tausendeinhundert"), (2021, "zweitausendeinundzwanzig"), (21_000, "einundzwanzigtausend"),
     (101_001, "hunderteintausendeins")],
)
def test_number_to_german(n, german):
    assert number_to_german(n) == german


@pytest.mark.parametrize(
    ("n", "english"),
    [(0, "zero"), (1, "one"), (17, "seventeen"), (21, "twenty-one"), (60, "sixty"), (101, "one hundred one"),
     (345, "three hundred forty-five"), (2021, "two thousand twenty-one")],
)
def test_number_to_english(n, english):
    assert number_to_english(n) == english


@pytest.mark.parametrize("bad", [-1, 1_000_000])
def test_numbers_out_of_range_are_rejected(bad):
    with pytest.raises(ValueError):
        number_to_german(bad)
    with pytest.raises(ValueError):
        number_to_english(bad)


# ------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("apple", "count"), {"count": 3, "adjectives": ["red"]}, ("three red apples", "drei rote Äpfel")),
        (("dog", "the"), {"adjectives": ["big"]}, ("the big dog", "der große Hund")),
        (("dog", "the"), {"adjectives": ["big"], "case": "acc"}, ("the big dog", "den großen Hund")),
        (("dog", "a"), {"adjectives": ["big"], "case": "acc"}, ("a big dog", "einen großen Hund")),
        (("house", "a"), {"adjectives": ["small"]}, ("a small house", "ein kleines Haus")),
        (("house", "the"), {"adjectives": ["small"], "plural": True}, ("the small houses", "die kleinen Häuser")),
        (("apple", "a"), {"adjectives": ["old"]}, ("an old apple", "ein alter Apfel")),
        (("lamp", "this"), {"adjectives": ["dark"]}, ("this dark lamp", "diese dunkle Lampe")),
        (("car", "my"), {"adjectives": ["expensive"], "case": "acc"}, ("my expensive car", "mein teures Auto")),
        (("dog", "our"), {"case": "acc"}, ("our dog", "unseren Hund")),
        (("box", "no"), {"adjectives": ["expensive"], "plural": True, "case": "acc"},
         ("any expensive boxes", "keine teuren Kisten")),
        (("apple", "the_count"), {"count": 3, "adjectives": ["red"], "case": "acc"},
         ("the three red apples", "die drei roten Äpfel")),
        (("egg", "count"), {"count": 1, "case": "acc"}, ("one egg", "ein Ei")),
        (("mouse", "many"), {"adjectives": ["big", "white"]}, ("many big white mice", "viele große weiße Mäuse")),
    ],
)
def test_noun_phrase_agreement(args, kwargs, expected):
    assert noun_phrase(*args, **kwargs) == expected


def test_counts_that_would_need_ein_are_rejected():
    with pytest.raises(ValueError, match="101"):
        noun_phrase("apple", "count", count=101)


# ------------------------------------------------------------------------------------ word order
THREE_RED_APPLES = noun_phrase("apple", "count", count=3, adjectives=["red"], case="acc")
THE_DOG = noun_phrase("dog", "the", case="acc")


def test_future_puts_the_infinitive_last():
    got = clause(PRONOUNS["I"], "buy", "future", THREE_RED_APPLES, adverbial=Phrase("on Monday", "am Montag"))
    assert got == ("I will buy three red apples on Monday", "ich werde am Montag drei rote Äpfel kaufen")


def test_fronted_adverbial_inverts_subject_and_verb():
    got = clause(PRONOUNS["I"], "buy", "future", THREE_RED_APPLES, adverbial=Phrase("on Monday", "am Montag"),
                 fronted=True)
    assert got == ("on Monday I will buy three red apples", "am Montag werde ich drei rote Äpfel kaufen")


def test_progressive_becomes_german_present():
    big_dog = noun_phrase("dog", "the", case="acc", adjectives=["big"])
    assert clause(PRONOUNS["we"], "buy", "progressive", big_dog) == (
        "we are buying the big dog", "wir kaufen den großen Hund")


def test_time_adverbial_comes_before_the_object():
    cats = noun_phrase("cat", "count", count=2, adjectives=["small"], case="acc")
    time = time_in_words(5, 30)
    got = clause(PRONOUNS["she"], "see", "present", cats, adverbial=Phrase(f"at {time.en}", f"um {time.de}"))
    assert got == ("she sees two small cats at half past five", "sie sieht um halb sechs zwei kleine Katzen")


def test_separable_prefix_moves_to_the_end_or_joins_the_final_verb():
    he = PRONOUNS["he"]
    assert clause(he, "pick up", "present", THE_DOG, negated=True) == (
        "he does not pick up the dog", "er holt den Hund nicht ab")
    assert clause(he, "pick up", "present", THE_DOG, subordinate=True) == (
        "that he picks up the dog", "dass er den Hund abholt")
    assert clause(he, "pick up", "perfect", THE_DOG, subordinate=True) == (
        "that he picked up the dog", "dass er den Hund abgeholt hat")


def test_kein_carries_the_negation():
    got = clause(PRONOUNS["I"], "have", "perfect", noun_phrase("dog", "no", case="acc"), negated=True)
    assert got == ("I did not have a dog", "ich habe keinen Hund gehabt")


def test_modals_and_special_verbs():
    assert clause(PRONOUNS["they"], "buy", "modal", THE_DOG, modal="want") == (
        "they want to buy the dog", "sie wollen den Hund kaufen")
    assert clause(PRONOUNS["you"], "buy", "modal", THE_DOG, negated=True) == (
        "you cannot buy the dog", "du kannst den Hund nicht kaufen")
    book = noun_phrase("book", "the", case="acc")
    assert clause(PRONOUNS["she"], "read", "perfect", book) == ("she has read the book", "sie hat das Buch gelesen")
    the_apple = noun_phrase("apple", "the", case="acc")
    dog = Subject("the dog", "der Hund", 2, animal=True)
    assert clause(dog, "eat", "present", the_apple).de == "der Hund frisst den Apfel"
    with pytest.raises(ValueError, match="cannot"):
        clause(PRONOUNS["I"], "buy", "modal", THE_DOG, modal="must", negated=True)


# ---------------------------------------------------------------------------------- times, dates
@pytest.mark.parametrize(
    ("hour", "minute", "oclock", "expected"),
    [(5, 30, False, ("half past five", "halb sechs")), (12, 30, False, ("half past twelve", "halb eins")),
     (8, 45, False, ("quarter to nine", "Viertel vor neun")), (5, 15, False, ("quarter past five", "Viertel nach fünf")),
     (5, 25, False, ("twenty-five past five", "fünf vor halb sechs")),
     (5, 35, False, ("twenty-five to six", "fünf nach halb sechs")),
     (5, 40, False, ("twenty to six", "zwanzig vor sechs")), (1, 0, False, ("one", "eins")),
     (1, 0, True, ("one o'clock", "ein Uhr")), (7, 0, True, ("seven o'clock", "sieben Uhr"))],
)
def test_time_in_words(hour, minute, oclock, expected):
    assert time_in_words(hour, minute, oclock) == expected


def test_digital_time_uses_the_24_hour_clock_in_german():
    assert digital_time(19, 30) == ("7:30 pm", "19:30 Uhr")
    assert digital_time(12, 5) == ("12:05 pm", "12:05 Uhr")
    assert digital_time(7, 0, show_minutes=False) == ("7 am", "7 Uhr")
    with pytest.raises(ValueError):
        digital_time(0, 15)
    with pytest.raises(ValueError):
        time_in_words(5, 7)


def test_dates():
    assert date_phrase(3, 3, 2021) == ("the third of March 2021", "dritten März 2021", "dritte März 2021")
    assert date_phrase(3, 3, 2021, "numeric") == ("March 3, 2021", "3. März 2021", "3. März 2021")
    assert date_phrase(21, 6)[:2] == ("the twenty-first of June", "einundzwanzigsten Juni")
    assert date_phrase(8, 5)[:2] == ("the eighth of May", "achten Mai")
    assert date_phrase(30, 11)[:2] == ("the thirtieth of November", "dreißigsten November")
    assert date_phrase(29, 2, 2020)[1] == "neunundzwanzigsten Februar 2020"
    with pytest.raises(ValueError, match="no such date"):
        date_phrase(29, 2, 2021)
