"""``data.source=backtranslate`` and ``data.source=distill``: parallel text plus a corpus translated by
trained models (``data.synthetic``).

Both wrap the source ``data.base_source`` names, which gives the parallel text and the valid and
test splits unchanged. What is translated, and by which models, is a ``SyntheticJob``:

* back-translation (Sennrich et al. 2016; Edunov et al. 2018): the monolingual target-side file
  ``synthetic.mono`` translated into the source language by a reverse model; the translations become
  sources (tagged with ``synthetic.tag`` if set, Caswell et al. 2019) of the monolingual targets;
* sequence-level distillation (Kim & Rush 2016): the training source translated by a teacher, whose
  translations replace the references (``synthetic.mode=replace``) or join them (``join``).

The translation itself is decoding's work (``mt.decode.synthetic``, run by training before the data
is prepared); this module only says what it must produce and reads it back. The translations live
under ``<data.cache_dir>/synthetic/<kind>-<hash>/``, named by the digests of the models, the input
text and the decoding settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from mt.config import DataConfig, SyntheticConfig
from mt.data.errors import DataError
from mt.data.sources.base import Source
from mt.data.text_files import read_lines
from mt.utils.fingerprint import path_sha256

TRANSLATIONS = "translations.txt"
SOURCE_TEXT = "input.txt"


@dataclass(frozen=True)
class SyntheticJob:
    """What to translate: ``input`` (a text file, one sentence per line) from ``src_lang`` into
    ``tgt_lang`` with ``models``, into ``directory / TRANSLATIONS``."""

    directory: Path
    input: Path
    models: list[Path]
    src_lang: str
    tgt_lang: str

    @property
    def output(self) -> Path:
        return self.directory / TRANSLATIONS

    def done(self) -> bool:
        return self.output.is_file()


class SyntheticSource(Source):
    """Parallel text from ``data.base_source`` with a translated corpus; see the module docstring."""

    kind: ClassVar[str] = ""
    fields = frozenset({"base_source", "synthetic"})
    wraps = True
    """``source_for`` hands this source the one ``data.base_source`` names (``wrap``)."""

    def wrap(self, base: Source) -> None:
        self.base = base

    def job(self) -> SyntheticJob:
        """The translation this source needs (built by ``mt.decode.synthetic.build_synthetic``)."""
        raise NotImplementedError

    def translations(self) -> Iterator[str]:
        job = self.job()
        if not job.done():
            raise DataError(f"data.source={self.kind}: the translated corpus {job.output} is not built yet; "
                            f"train.py builds it before preparing the data (mt.decode.synthetic)")
        return read_lines(job.output)

    def pairs(self, split: str) -> Iterator[tuple[str, str]]:
        return self.base.pairs(split) if split != "train" else self.train_pairs()

    def train_pairs(self) -> Iterator[tuple[str, str]]:
        raise NotImplementedError

    def size_hint(self, split: str) -> int | None:
        return self.base.size_hint(split) if split != "train" else None

    def input_files(self, split: str) -> list[Path]:
        files = self.base.input_files(split)
        if split != "train":
            return files
        job = self.job()
        return files + [job.output] if job.done() else files

    def resolved_config(self) -> DataConfig:
        syn = self.cfg.synthetic  # a model replaced at the same path is another model: its digest counts
        models = [f"{self.canonical_path(m)}@{_model_digest(self.input_path(m))[:16]}" for m in syn.models]
        mono = str(self.canonical_path(syn.mono)) if syn.mono else None
        base = self.base.resolved_config()
        return dataclasses.replace(base, source=self.cfg.source,
                                   synthetic=dataclasses.replace(syn, models=models, mono=mono))

    def user_symbols(self) -> list[str]:
        """Pieces the tokenizer must keep whole: the tag of synthetic sources."""
        return [self.cfg.synthetic.tag] if self.cfg.synthetic.tag else []

    def job_directory(self, input_digest: str) -> Path:
        """``<cache>/synthetic/<kind>-<hash>``: the hash of the models' and the input's digests, the
        decoding settings and the backend that translates (``synthetic_backend``)."""
        syn = self.cfg.synthetic
        if not syn.models:
            raise DataError(f"data.source={self.kind} needs data.synthetic.models (a checkpoint, or several)")
        models = [self.input_path(m) for m in syn.models]
        payload = {"kind": self.kind, "input": input_digest, "models": [_model_digest(m) for m in models],
                   "decode": dataclasses.asdict(syn.decode), "seed": syn.seed, "backend": synthetic_backend(syn)}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
        root = Path(self.cfg.cache_dir).expanduser()
        root = root if root.is_absolute() else self.input_path(str(root))
        return root / "synthetic" / f"{self.kind}-{digest}"

    def tagged(self, text: str) -> str:
        return f"{self.cfg.synthetic.tag} {text}" if self.cfg.synthetic.tag else text


def synthetic_backend(syn: SyntheticConfig) -> str:
    """What translates the corpus, ``mt`` or ``ctranslate2``: ``synthetic.backend`` with ``auto``
    resolved on this machine (one checkpoint on CPU with CTranslate2 installed: ``ctranslate2``). The
    corpus is named by it, so that a GPU run with mt's decoder and a CPU run with the CTranslate2
    conversion, which translate differently, do not share one corpus. Decoding follows the same rule
    (``mt.decode.synthetic.converted``); CTranslate2 export directories named in ``models`` translate
    with CTranslate2 whatever it says (their digest names their corpus)."""
    if syn.backend != "auto":
        return syn.backend
    if len(syn.models) > 1:
        return "mt"  # CTranslate2 translates no ensembles
    from mt.utils.device import resolve_device  # torch, only where the device must be known

    device = resolve_device(syn.decode.device, key="data.synthetic.decode.device")
    return "ctranslate2" if device.type == "cpu" and importlib.util.find_spec("ctranslate2") else "mt"


def _model_digest(path: Path) -> str:
    """A file's SHA-256 (a checkpoint, a text), or a model directory's; read once per version."""
    if not path.exists():
        raise DataError(f"data.synthetic.models: {path} does not exist")
    return path_sha256(path)


class BacktranslateSource(SyntheticSource):
    """Parallel pairs, then ``(translation of m, m)`` for the monolingual target sentences ``m``."""

    kind = "backtranslate"

    def job(self) -> SyntheticJob:
        syn = self.cfg.synthetic
        if not syn.mono:
            raise DataError("data.source=backtranslate needs data.synthetic.mono (target-language text)")
        mono = self.input_path(syn.mono)
        if not mono.is_file():
            raise DataError(f"data.synthetic.mono: {mono} does not exist")
        return SyntheticJob(self.job_directory(_model_digest(mono)), mono, [self.input_path(m) for m in syn.models],
                            src_lang=self.cfg.tgt_lang, tgt_lang=self.cfg.src_lang)

    def train_pairs(self) -> Iterator[tuple[str, str]]:
        parallel = 0
        for pair in self.base.pairs("train"):
            parallel += 1
            yield pair
        ratio = self.cfg.synthetic.ratio
        limit = None if ratio is None else int(ratio * parallel)
        job = self.job()
        synthetic = zip(self.translations(), read_lines(job.input), strict=True)
        for translation, target in islice(synthetic, limit):
            yield self.tagged(translation), target

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        syn = data.get("synthetic") or {}
        return (f"parallel text ({data.get('base_source')}) and `{syn.get('mono')}` back-translated by "
                f"{', '.join(map(str, syn.get('models') or []))}")


class DistillSource(SyntheticSource):
    """The training sources with a teacher's translations as targets (and the references with ``join``)."""

    kind = "distill"

    def job(self) -> SyntheticJob:
        directory = self.job_directory(self._base_digest())
        return SyntheticJob(directory, directory / SOURCE_TEXT, [self.input_path(m) for m in self.cfg.synthetic.models],
                            src_lang=self.cfg.src_lang, tgt_lang=self.cfg.tgt_lang)

    def _base_digest(self) -> str:
        """The digest of the base source's settings and local training files (what the sources are)."""
        files = [_model_digest(p) for p in self.base.input_files("train") if p.is_file()]  # cached per version
        config = dataclasses.asdict(self.base.resolved_config())
        config.pop("synthetic", None)
        return hashlib.sha256(json.dumps([config, files], sort_keys=True, default=str).encode()).hexdigest()

    def write_input(self, path: Path) -> int:
        """Write the base training sources to ``path`` (the teacher's input); returns the line count.
        Line breaks inside a sentence become spaces: one sentence is one line."""
        count = 0
        with open(path, "w", encoding="utf-8") as f:
            for src, _ in self.base.pairs("train"):
                f.write(" ".join(src.splitlines()) + "\n")
                count += 1
        return count

    def train_pairs(self) -> Iterator[tuple[str, str]]:
        join = self.cfg.synthetic.mode == "join"
        translations = self.translations()
        for (src, ref), hyp in zip(self.base.pairs("train"), translations, strict=True):
            if join:
                yield src, ref
            yield self.tagged(src), hyp

    @staticmethod
    def describe(data: Mapping[str, Any]) -> str:
        syn = data.get("synthetic") or {}
        return (f"the training sources of {data.get('base_source')} translated by the teacher "
                f"{', '.join(map(str, syn.get('models') or []))} ({syn.get('mode')})")
