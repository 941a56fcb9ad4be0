"""The data benchmarks: preparing a WMT-sized synthetic corpus, and batch padding on a real one.

``data`` writes a synthetic parallel corpus shaped like WMT14 en-de (sentence lengths, Zipfian
words, a target that is a deterministic function of the source) and times ``prepare_data.py`` on
it, with the peak memory of its process tree and a breakdown by stage. ``batches`` prepares a real
corpus the way the M30K-small workload does and reports how much of a batch is real tokens.

The corpus generator is vectorised numpy: words are integer ids until the last step, where a byte
gather renders whole chunks of sentences at once.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import BenchmarkError, hydra_value, log, machine_description, run_measured
from mt.data.batching import BUCKET_ORDERS
from mt.utils.cpu import usable_cores

SCRIPTS = Path(__file__).resolve().parents[1]
PREPARE_SCRIPT = SCRIPTS / "prepare_data.py"

WORD_TYPES = 50_000
"""Word types per language (before punctuation is attached)."""
ZIPF_EXPONENT = 1.0
LENGTH_MEDIAN = 19.2
LENGTH_SIGMA = 0.6
"""Sentence lengths in words are log-normal: mean about 23 with a long right tail, like WMT14 en-de."""
MAX_WORDS = 250
EXPANSION_RATE = 0.1
"""Share of source words that become two target words (an article and the word): length ratio ~1.1."""
COMMA_RATE = 0.06
EVAL_PAIRS = 3000
CHUNK_PAIRS = 50_000
"""Pairs generated at a time; bounds the generator's memory whatever the corpus size."""
EN_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
DE_LETTERS = "enisratdhulcgmobwfkzpvüäößjyxq"
PLAIN, COMMA, FINAL = 0, 1, 2
"""Variants of every word: ``w``, ``w,``, ``w.`` (each rendered with a trailing space)."""


# ------------------------------------------------------------------------------- pure functions


def zipf_cdf(types: int, exponent: float) -> np.ndarray:
    """Cumulative probabilities of ranks ``0..types-1`` under Zipf's law ``p(r) ~ 1 / (r + 1)^s``."""
    weights = 1.0 / np.arange(1, types + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def verb_final_order(lengths: np.ndarray) -> np.ndarray:
    """Gather index that moves the second word of every sentence of >= 4 words to its end.

    E.g. lengths ``[2, 5]`` give ``[0, 1, 2, 4, 5, 6, 3]``: German puts the non-finite verb last.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    first = np.repeat(starts, lengths)  # (words,)
    m = np.repeat(lengths, lengths)
    j = np.arange(int(lengths.sum()), dtype=np.int64) - first  # position inside the sentence
    moved = np.where(j == 0, 0, np.where(j == m - 1, 1, j + 1))
    return first + np.where(m < 4, j, moved)


def expand(tokens: np.ndarray, fertility: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat every token ``fertility`` (1 or 2) times; the first of a pair becomes ``extra``.

    Returns the expanded tokens and, per input token, the index of its first output token.
    E.g. tokens ``[5, 6]``, fertility ``[2, 1]``, extra ``[9, 9]`` give ``[9, 5, 6]`` and ``[0, 2]``.
    """
    out = np.repeat(tokens, fertility)
    first = np.cumsum(fertility) - fertility
    doubled = fertility == 2
    out[first[doubled]] = extra[doubled]
    return out, first


def render(table: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, ids: np.ndarray,
           lengths: np.ndarray) -> bytes:
    """Text of sentences of ``lengths`` words ``ids``: a byte gather from the rendered vocabulary.

    Entry ``i`` of the vocabulary is ``table[offsets[i] : offsets[i] + sizes[i]]`` and ends with a
    space; the space after each sentence's last word becomes a newline. E.g. entries ``"a "``,
    ``"bc "``, ids ``[0, 1, 1, 0]``, lengths ``[3, 1]`` give ``b"a bc bc\\na\\n"``.
    """
    size = sizes[ids]  # (words,)
    if len(size) == 0:
        return b""
    ends = np.cumsum(size)
    start = offsets[ids]
    # The table index of every output byte, as a running sum: +1 inside a word, a jump between
    # words (cheaper than np.repeat with per-word counts, the obvious way).
    step = np.ones(int(ends[-1]), dtype=np.int32)  # (bytes,)
    step[0] = start[0]
    step[ends[:-1]] = start[1:] - start[:-1] - size[:-1] + 1
    text = table[np.cumsum(step, dtype=np.int32)]
    text[ends[np.cumsum(lengths) - 1] - 1] = ord("\n")
    return text.tobytes()


def sentence_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` sentence lengths in words: log-normal (mean ~23, long tail), clipped to 1..MAX_WORDS."""
    raw = rng.lognormal(np.log(LENGTH_MEDIAN), LENGTH_SIGMA, n)
    return np.clip(np.rint(raw), 1, MAX_WORDS).astype(np.int64)


# ---------------------------------------------------------------------------------------- lexicon


def _make_words(rng: np.random.Generator, types: int, letters: str, capital_rate: float) -> list[str]:
    """Distinct pseudo-words, frequent ones short (as in real languages), a few capitalised or numeric."""
    ranks = np.arange(types)
    sizes = np.clip(np.rint(1 + 0.6 * np.log1p(ranks)) + rng.integers(0, 3, types), 1, 18).astype(int)
    weights = 1.0 / (np.arange(len(letters)) + 3.0)
    chars = np.array(list(letters))[rng.choice(len(letters), int(sizes.sum()), p=weights / weights.sum())]
    capital = (rng.random(types) < capital_rate) & (ranks >= 20)  # function words stay lower-case
    numbers = rng.integers(0, 3000, types)
    words, seen, pos = [], set(), 0
    for rank in range(types):
        word = "".join(chars[pos : pos + sizes[rank]])
        pos += sizes[rank]
        if rank % 97 == 50:  # ~1% numbers: SentencePiece splits their digits
            word = str(numbers[rank])
        elif capital[rank]:
            word = word.capitalize()
        while word in seen:
            word += letters[rank % len(letters)]
        seen.add(word)
        words.append(word)
    return words


def _vocabulary_table(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The byte table, offsets and sizes of every word in its PLAIN, COMMA and FINAL variants."""
    entries = [w + " " for w in words] + [w + ", " for w in words] + [w + ". " for w in words]
    encoded = [e.encode() for e in entries]
    sizes = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.cumsum(sizes) - sizes
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets, sizes


@dataclass
class Lexicon:
    """Two synthetic languages and the word-level translation between them; a pure function of the seed."""

    cdf: np.ndarray
    """Zipf CDF over source word ranks."""
    mapping: np.ndarray
    """Target word of each source word: a near rank-preserving bijection, so both sides are Zipfian."""
    fertility: np.ndarray
    """1 or 2 target words per source word."""
    extra: np.ndarray
    """The target function word put before a source word of fertility 2."""
    src_table: tuple[np.ndarray, np.ndarray, np.ndarray]
    tgt_table: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def build(cls, seed: int, types: int = WORD_TYPES) -> Lexicon:
        """The lexicon of ``seed`` with ``types`` word types per language."""
        if types < 100:
            raise BenchmarkError(f"--word-types={types} is too small; use at least 100")
        rng = np.random.default_rng([seed, 0])
        src_words = _make_words(rng, types, EN_LETTERS, capital_rate=0.05)
        tgt_words = _make_words(rng, types, DE_LETTERS, capital_rate=0.3)
        mapping = np.empty(types, dtype=np.int64)
        mapping[np.argsort(np.arange(1, types + 1) * rng.lognormal(0, 0.3, types), kind="stable")] = np.arange(types)
        cdf = zipf_cdf(types, ZIPF_EXPONENT)
        # The 10 most frequent words never expand; the rest do with a probability that puts the
        # expected share of expanded running words at EXPANSION_RATE.
        p = EXPANSION_RATE / (1.0 - cdf[9])
        fertility = np.where((rng.random(types) < p) & (np.arange(types) >= 10), 2, 1)
        extra = rng.integers(0, 10, types)  # the ten most frequent target words: articles and the like
        return cls(cdf, mapping, fertility, extra, _vocabulary_table(src_words), _vocabulary_table(tgt_words))

    @property
    def types(self) -> int:
        """Word types per language."""
        return len(self.cdf)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[bytes, bytes, np.ndarray, np.ndarray]:
        """``n`` random sentence pairs: source text, target text, and their lengths in words."""
        src_len = sentence_lengths(rng, n)  # (n,)
        words = int(src_len.sum())
        src = np.minimum(np.searchsorted(self.cdf, rng.random(words), side="right"), self.types - 1)
        return self.render_pair(src, rng.random(words) < COMMA_RATE, src_len)

    def render_pair(self, src: np.ndarray, comma: np.ndarray, src_len: np.ndarray
                    ) -> tuple[bytes, bytes, np.ndarray, np.ndarray]:
        """Text of source sentences (word ids ``src``, a comma after flagged words) and of their translation.

        The translation maps every word, moves the second word of a sentence to its end, and puts
        a function word before words of fertility 2. Sentences end with a full stop.
        """
        last = np.zeros(len(src), dtype=bool)
        last[np.cumsum(src_len) - 1] = True
        comma = comma & ~last
        src_variant = np.where(last, FINAL, np.where(comma, COMMA, PLAIN))

        order = verb_final_order(src_len)
        moved = src[order]
        fertility = self.fertility[moved]
        tgt, first = expand(self.mapping[moved], fertility, self.extra[moved])
        tgt_comma = np.zeros(len(tgt), dtype=bool)
        tgt_comma[first + fertility - 1] = comma[order]  # the comma follows the word, not its article
        tgt_len = np.add.reduceat(fertility, np.cumsum(src_len) - src_len)  # (n,)
        tgt_last = np.zeros(len(tgt), dtype=bool)
        tgt_last[np.cumsum(tgt_len) - 1] = True
        tgt_variant = np.where(tgt_last, FINAL, np.where(tgt_comma, COMMA, PLAIN))

        src_text = render(*self.src_table, src_variant * self.types + src, src_len)
        tgt_text = render(*self.tgt_table, tgt_variant * self.types + tgt, tgt_len)
        return src_text, tgt_text, src_len, tgt_len


def write_corpus(directory: Path, train_pairs: int, *, eval_pairs: int = EVAL_PAIRS, seed: int = 1,
                 types: int = WORD_TYPES, src_lang: str = "en", tgt_lang: str = "de") -> dict:
    """Write ``{train,valid,test}.{src_lang,tgt_lang}`` into ``directory``; returns word statistics.

    Every chunk of CHUNK_PAIRS pairs has its own random stream, so the files are a pure function of
    the arguments.
    """
    lexicon = Lexicon.build(seed, types)
    directory.mkdir(parents=True, exist_ok=True)
    stats = {"src_words": 0, "tgt_words": 0, "bytes": 0}
    for split_id, (split, pairs) in enumerate((("train", train_pairs), ("valid", eval_pairs),
                                               ("test", eval_pairs))):
        with open(directory / f"{split}.{src_lang}", "wb") as fs, open(directory / f"{split}.{tgt_lang}", "wb") as ft:
            for chunk, start in enumerate(range(0, pairs, CHUNK_PAIRS)):
                rng = np.random.default_rng([seed, 1 + split_id, chunk])
                src, tgt, src_len, tgt_len = lexicon.sample(rng, min(CHUNK_PAIRS, pairs - start))
                fs.write(src)
                ft.write(tgt)
                if split == "train":
                    stats["src_words"] += int(src_len.sum())
                    stats["tgt_words"] += int(tgt_len.sum())
                stats["bytes"] += len(src) + len(tgt)
    return stats


# ------------------------------------------------------------------------------- data benchmark


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``benchmark.py data``."""
    parser.add_argument("--pairs", type=int, required=True,
                        help="train pairs to generate (WMT14 en-de has about 4.5M)")
    parser.add_argument("--workdir", type=Path, help="where the corpus and cache go, in a new "
                        "sub-directory (default: the system's temporary directory)")
    parser.add_argument("--vocab-size", type=int, default=32000,
                        help="tokenizer.vocab_size (default 32000, as experiment=wmt14_en_de)")
    parser.add_argument("--input-sentence-size", type=int, default=500_000,
                        help="tokenizer.input_sentence_size, sentences per side SentencePiece trains on "
                        "(default 500000, as experiment=wmt14_en_de)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="data.num_workers, encoding processes (default 0: one per CPU core)")
    parser.add_argument("--word-types", type=int, default=WORD_TYPES,
                        help=f"word types per language of the synthetic corpus (default {WORD_TYPES})")
    parser.add_argument("--eval-pairs", type=int, default=EVAL_PAIRS,
                        help=f"pairs of the valid and of the test split (default {EVAL_PAIRS})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic corpus (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and prepared data at the end")
    parser.add_argument("--quiet", action="store_true", help="do not echo the log of prepare_data.py")


def _prepare_stages(cache: Path) -> tuple[dict, dict]:
    """Markers of the ends of the stages of a prepare run: its temporary files, and its log lines."""
    def exists(pattern: str):
        return lambda: next(iter(cache.glob(f".*.tmp-*{pattern}")), None) is not None

    files = {"started": exists(""), "eval_written": exists("/scratch"), "tokenizer_trained": exists("/spm.model")}
    # The first "N pairs, X source and Y target tokens" line is the train split's, logged once encoded.
    return files, {"cleaned": "training SentencePiece", "train_encoded": " source and "}


def stage_seconds(marks: dict[str, float], total: float) -> dict[str, float | None]:
    """Durations of the prepare stages from the times their end markers were seen (None if unseen).

    Files are polled and log lines are not, so a marker may be seen a poll interval late; a stage
    never gets a negative duration from that.
    """
    names = [("startup_s", "started"), ("eval_text_s", "eval_written"), ("clean_s", "cleaned"),
             ("spm_train_s", "tokenizer_trained"), ("encode_train_s", "train_encoded"), ("finish_s", None)]
    stages: dict[str, float | None] = {}
    previous: float | None = 0.0
    for stage, mark in names:
        end = total if mark is None else marks.get(mark)
        if end is not None and previous is not None:
            end = max(end, previous)
            stages[stage] = round(end - previous, 2)
        else:
            stages[stage] = None
        previous = end
    return stages


def _run_prepare(cmd: list[str], cache: Path, echo: bool, what: str):
    files, logs = _prepare_stages(cache)
    run = run_measured(cmd, cwd=cache.parent, file_marks=files, log_marks=logs,
                       echo_prefix=None if not echo else f"  [{what}] ")
    if run.returncode != 0 or not run.stdout.strip():
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"{what} failed with exit status {run.returncode}: {' '.join(cmd)}\n{tail}")
    return run, Path(run.stdout.strip().splitlines()[-1])  # prepare_data.py prints the directory last


def run(args: argparse.Namespace) -> dict:
    """Generate the corpus, prepare it twice (build, then reuse), and return the measurements."""
    if args.pairs < 1 or args.eval_pairs < 1:
        raise BenchmarkError(f"--pairs={args.pairs} and --eval-pairs={args.eval_pairs} must be positive")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    # Always a new directory, even inside --workdir: a cache left by an earlier run would be reused.
    base = Path(tempfile.mkdtemp(prefix="mt-bench-data-", dir=args.workdir))
    try:
        return _run_in(base, args)
    finally:
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def _run_in(base: Path, args: argparse.Namespace) -> dict:
    corpus, cache = base / "corpus", base / "cache"
    log(f"generating {args.pairs} synthetic pairs (+ {args.eval_pairs} valid/test) in {corpus}")
    started = time.perf_counter()
    words = write_corpus(corpus, args.pairs, eval_pairs=args.eval_pairs, seed=args.seed, types=args.word_types)
    generate_s = time.perf_counter() - started
    cmd = [sys.executable, str(PREPARE_SCRIPT), "data=local", f"data.local_dir={hydra_value(corpus)}",
           "data.name=synthetic", f"data.cache_dir={hydra_value(cache)}", f"data.num_workers={args.num_workers}",
           f"tokenizer.vocab_size={args.vocab_size}", f"tokenizer.input_sentence_size={args.input_sentence_size}",
           "--no-progress"]
    log(f"preparing: {' '.join(cmd)}")
    first, directory = _run_prepare(cmd, cache, not args.quiet, "prepare")
    second, again = _run_prepare(cmd, cache, not args.quiet, "reuse")
    if again != directory or "reusing prepared data" not in second.stderr:
        raise BenchmarkError(f"the second prepare did not reuse {directory} (it printed {again}); "
                             f"the cache key or the completeness check of mt.data.prepare is broken")
    meta = json.loads((directory / "meta.json").read_text())
    train = meta["splits"]["train"]
    result = {
        "benchmark": "data",
        "pairs": args.pairs,
        "generate_s": round(generate_s, 2),
        "prepare_s": round(first.seconds, 2),
        "peak_rss_gib": round(first.peak_rss_gib, 3),
        "reuse_s": round(second.seconds, 2),
        "prepare_cpu_s": round(first.cpu_s, 1),
        "train_pairs_kept": train["pairs"],
        "vocab_size": meta["vocab_size"],
        "input_sentence_size": args.input_sentence_size,
        "num_workers": args.num_workers,
        "cpu_count": usable_cores(),
        "machine": machine_description(),
        "stages_s": stage_seconds(first.marks, first.seconds),
        "stages_cpu_s": stage_seconds(first.mark_cpu, first.cpu_s),
        "peak_tree_rss_gib": round(first.peak_tree_rss_gib, 3),
        "max_process_rss_gib": round(first.max_process_rss_gib, 3),
        "reuse_peak_rss_gib": round(second.peak_rss_gib, 3),
        "corpus_mib": round(words["bytes"] / 2**20, 1),
        "src_words_per_sentence": round(words["src_words"] / args.pairs, 2),
        "tgt_src_word_ratio": round(words["tgt_words"] / max(words["src_words"], 1), 3),
        "subwords_per_word": round((train["src_tokens"] + train["tgt_tokens"])
                                   / max(words["src_words"] + words["tgt_words"], 1), 3),
        "clean": meta["clean"],
        "dropped_too_long": train["dropped_too_long"],
    }
    _summarize_data(result)
    return result


def _summarize_data(r: dict) -> None:
    log(f"data benchmark: {r['pairs']} pairs, {r['corpus_mib']} MiB of text, {r['cpu_count']} cores")
    log(f"  generate {r['generate_s']} s | prepare {r['prepare_s']} s ({r['prepare_cpu_s']} CPU s) | reuse "
        f"{r['reuse_s']} s | peak RSS {r['peak_rss_gib']} GiB (tree {r['peak_tree_rss_gib']}, largest "
        f"process {r['max_process_rss_gib']})")
    log("  stages (wall s / CPU s): " + ", ".join(
        f"{k[:-2]} {v} / {r['stages_cpu_s'][k]}" for k, v in r["stages_s"].items()))
    log(f"  kept {r['train_pairs_kept']} train pairs; vocab {r['vocab_size']}; "
        f"{r['subwords_per_word']} subwords per word")


# ---------------------------------------------------------------------------- batches benchmark

VALID_PREFIXES = ("val", "valid", "dev")
TEST_PREFIXES = ("test_2016_flickr", "test")


def add_batches_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``benchmark.py batches``."""
    parser.add_argument("--data", type=Path, required=True,
                        help="directory with PREFIX.SRC/PREFIX.TGT text files, read in place")
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="token budget per batch, padding included (default 4096, as M30K-small)")
    parser.add_argument("--src-lang", default="en", help="source language suffix (default en)")
    parser.add_argument("--tgt-lang", default="de", help="target language suffix (default de)")
    parser.add_argument("--prefix", default="train", help="file prefix of the train split (default train)")
    parser.add_argument("--valid-prefix", help=f"file prefix of the valid split (default: the first of "
                        f"{', '.join(VALID_PREFIXES)} present)")
    parser.add_argument("--test-prefix", help=f"file prefix of the test split (default: the first of "
                        f"{', '.join(TEST_PREFIXES)} present)")
    parser.add_argument("--experiment", default="multi30k_en_de",
                        help="recipe whose data and tokenizer settings are used (default multi30k_en_de: "
                        "SentencePiece unigram 8k)")
    parser.add_argument("--vocab-size", type=int, help="override tokenizer.vocab_size of the recipe")
    parser.add_argument("--cache-dir", type=Path,
                        help="prepared-data cache to use and keep (default: a temporary one, deleted)")
    parser.add_argument("--bucket-order", choices=BUCKET_ORDERS, help="sentence order before cutting "
                        "batches (default: batch_by_tokens' default, which the trainer uses)")
    parser.add_argument("--pad-to-multiple", type=int, default=1,
                        help="pad lengths to a multiple of this, as collate does (default 1)")


def _find_prefix(data: Path, given: str | None, candidates: tuple[str, ...], langs: tuple[str, str],
                 option: str) -> str:
    """The prefix ``given``, or the first candidate whose files exist for both languages."""
    for prefix in [given] if given else candidates:
        if all((data / f"{prefix}.{lang}").is_file() for lang in langs):
            return prefix
    looked = ", ".join(f"{p}.{langs[0]}/{p}.{langs[1]}" for p in ([given] if given else candidates))
    raise BenchmarkError(f"no {looked} in {data}; name the split's file prefix with {option}")


def run_batches(args: argparse.Namespace) -> dict:
    """Prepare ``--data`` as the recipe does, batch its train split and measure the padding."""
    from prepare_data import compose_data_config

    from mt.data.batching import batch_by_tokens, real_token_fraction
    from mt.data.prepare import load_prepared, prepare_data

    data = args.data.expanduser().resolve()
    if not data.is_dir():
        raise BenchmarkError(f"--data {args.data} is not a directory; give the one holding the text files")
    langs = (args.src_lang, args.tgt_lang)
    train = _find_prefix(data, args.prefix, (), langs, "--prefix")
    valid = _find_prefix(data, args.valid_prefix, VALID_PREFIXES, langs, "--valid-prefix")
    test = _find_prefix(data, args.test_prefix, TEST_PREFIXES, langs, "--test-prefix")
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="mt-bench-batches-"))
    overrides = [f"experiment={args.experiment}", "data.source=local", f"data.local_dir={hydra_value(data)}",
                 f"data.name={hydra_value(data.name)}", f"data.src_lang={args.src_lang}",
                 f"data.tgt_lang={args.tgt_lang}", "data.local_format=text",
                 f"data.local_prefixes.train={hydra_value(train)}",
                 f"data.local_prefixes.valid={hydra_value(valid)}",
                 f"data.local_prefixes.test={hydra_value(test)}",
                 f"data.cache_dir={hydra_value(cache.expanduser().resolve())}"]
    if args.vocab_size is not None:
        overrides.append(f"tokenizer.vocab_size={args.vocab_size}")
    try:
        cfg = compose_data_config("config", overrides)
        started = time.perf_counter()
        directory = prepare_data(cfg.data, cfg.tokenizer, Path.cwd(), progress=False)
        prepare_s = time.perf_counter() - started
        prepared = load_prepared(directory, cfg.data.src_lang, cfg.data.tgt_lang)
        pairs = prepared.split("train")
        order = args.bucket_order or inspect.signature(batch_by_tokens).parameters["bucket_order"].default
        started = time.perf_counter()
        try:
            batches = batch_by_tokens(pairs.src_lengths, pairs.tgt_lengths, args.max_tokens,
                                      bucket_order=order, pad_to_multiple=args.pad_to_multiple)
        except ValueError as e:
            raise BenchmarkError(str(e)) from None
        batch_s = time.perf_counter() - started
        fraction = real_token_fraction(batches, pairs.src_lengths, pairs.tgt_lengths,
                                       pad_to_multiple=args.pad_to_multiple)
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
    src_tokens, tgt_tokens = pairs.num_tokens()
    result = {
        "benchmark": "batches",
        "real_token_fraction": round(fraction, 4),
        "batches": len(batches),
        "sentences": len(pairs),
        "max_tokens": args.max_tokens,
        "mean_sentences_per_batch": round(len(pairs) / max(len(batches), 1), 1),
        "src_tokens": src_tokens,
        "tgt_tokens": tgt_tokens,
        "vocab_size": prepared.tokenizer.vocab_size,
        "bucket_order": order,
        "pad_to_multiple": args.pad_to_multiple,
        "prepare_s": round(prepare_s, 2),
        "batch_s": round(batch_s, 3),
        "data": str(data),
        "prefixes": {"train": train, "valid": valid, "test": test},
    }
    log(f"batches benchmark: {result['sentences']} train pairs of {data} -> {result['batches']} batches of "
        f"<= {args.max_tokens} tokens ({result['mean_sentences_per_batch']} sentences each); real tokens "
        f"{100 * fraction:.2f}% of the padded slots; vocab {result['vocab_size']}")
    return result
