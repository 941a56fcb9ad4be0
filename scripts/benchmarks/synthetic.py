"""WMT-shaped training and decoding data without a download: the data benchmark's synthetic corpus,
written once into the prepared-data cache and prepared by the real pipeline (SentencePiece, binarize).

The corpus comes from ``benchmarks.data.write_corpus``: WMT14 en-de sentence lengths (log-normal in
words, mean about 23, long tail), Zipfian words over 50k types per side, a target about 1.1 times
as long as its source. The test split has 3,003 pairs, the size of newstest2014.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.common import hydra_value, log
from benchmarks.data import write_corpus

NEWSTEST2014_PAIRS = 3003
DEFAULT_PAIRS = 200_000
"""Train pairs: enough for a 32k SentencePiece vocabulary; benchmarks cycle through the epochs."""


def synthetic_corpus(cache_dir: Path, pairs: int, *, seed: int = 1, eval_pairs: int = NEWSTEST2014_PAIRS) -> Path:
    """The directory of the synthetic text corpus, written on first use under ``cache_dir``.

    The files are a pure function of the arguments, so the directory is named by them and reused.
    It is written beside its final place and renamed, so an interrupted run leaves no half corpus.
    """
    final = Path(cache_dir).expanduser().resolve() / f"synthetic-wmt-text-{pairs}-{eval_pairs}-s{seed}"
    if (final / "test.de").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    log(f"writing a synthetic WMT-like corpus of {pairs} pairs to {final}")
    try:
        write_corpus(tmp, pairs, eval_pairs=eval_pairs, seed=seed)
        try:
            os.replace(tmp, final)
        except OSError:  # another process renamed its copy first: keep that one
            if not (final / "test.de").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


EXPERIMENTS = {"transformer_base": "wmt14_en_de", "transformer_big": "wmt14_en_de_big"}
"""The WMT14 recipe of each model: its dropout, optimizer and vocabulary settings are the ones used."""


def overrides(model: str, corpus: Path, cache_dir: Path, vocab_size: int = 32000) -> list[str]:
    """Hydra overrides for ``model``'s WMT14 recipe with its data read from ``corpus`` instead of the hub
    (a joint ``vocab_size`` SentencePiece model, 32k in the recipes)."""
    if model not in EXPERIMENTS:
        raise ValueError(f"no WMT recipe for {model}; choose one of {', '.join(EXPERIMENTS)}")
    return [f"experiment={EXPERIMENTS[model]}", "data.source=local", f"data.local_dir={hydra_value(corpus)}",
            "data.name=synthetic-wmt", "data.local_format=text",
            f"data.cache_dir={hydra_value(Path(cache_dir).expanduser().resolve())}",
            f"tokenizer.vocab_size={vocab_size}"]
