"""Checking a composed config once, at the entry point: plain mappings become the dataclasses of
``schema``, every value is checked, and errors name the key."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from mt.config.schema import (
    ConfigError,
    DataConfig,
    DecodeConfig,
    EvaluateConfig,
    ExportConfig,
    ModelConfig,
    OptimConfig,
    ServeConfig,
    SyntheticConfig,
    TokenizerConfig,
    TrainConfig,
    TrainerConfig,
    TranslateConfig,
)
from mt.utils.languages import language, same_language

# data.source and export's format are checked against their registries (mt.data.sources.SOURCES,
# mt.export.run.FORMATS) where those are read, before any work: the keys are the one list.
_CHOICES = {
    "data.local_format": ("text", "tsv"),
    "data.normalize": (None, "NFC", "NFKC", "NFD", "NFKD"),
    "tokenizer.model_type": ("unigram", "bpe"),
    "model.activation": ("relu", "gelu", "swish"),
    "optim.schedule": ("inverse_sqrt", "cosine"),
    "trainer.device": ("auto", "cpu", "cuda"),
    "trainer.precision": ("auto", "fp32", "bf16", "fp16"),
    "trainer.best_metric": ("bleu", "loss"),
    "decode.precision": ("fp32", "bf16", "fp16"),
    "decode.device": ("auto", "cpu", "cuda"),
}
_BACKENDS = ("mt", "ctranslate2")
_QUANTIZATIONS = ("none", "int8", "int8_float16", "float16")

_POSITIVE = (
    "tokenizer.vocab_size", "model.encoder_layers", "model.decoder_layers", "model.d_model",
    "model.n_heads", "model.ffn_dim", "model.max_positions", "optim.lr", "trainer.max_tokens",
    "trainer.update_freq", "trainer.max_steps", "trainer.log_every", "trainer.valid_every",
    "trainer.save_every", "decode.beam_size", "decode.max_tokens", "decode.nbest",
    "data.max_words", "data.max_tokens_per_sentence", "trainer.max_bad_steps", "trainer.dist_timeout_min",
)


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check ranges and cross-field rules; raise ConfigError naming the key."""
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(map(str, choices))}")
    for key in _POSITIVE:
        if not _get(cfg, key) > 0:
            raise ConfigError(f"{key}={_get(cfg, key)!r} must be positive")
    m = cfg.model
    if m.d_model % m.n_heads:
        raise ConfigError(f"model.d_model={m.d_model} must be divisible by model.n_heads={m.n_heads}")
    if cfg.trainer.pad_to_multiple < 0:
        raise ConfigError(f"trainer.pad_to_multiple={cfg.trainer.pad_to_multiple!r} must be >= 0")
    if cfg.trainer.prefetch_batches < -1:
        raise ConfigError(f"trainer.prefetch_batches={cfg.trainer.prefetch_batches!r} must be >= 0, "
                          f"or -1 for auto")
    for key in ("model.dropout", "model.attention_dropout", "model.activation_dropout",
                "optim.label_smoothing"):
        if not 0.0 <= _get(cfg, key) < 1.0:
            raise ConfigError(f"{key}={_get(cfg, key)!r} must be in [0, 1)")
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"optim.betas={cfg.optim.betas!r} must have two values")
    _validate_pairs(cfg.data)
    if same_language(cfg.data.src_lang, cfg.data.tgt_lang) and not cfg.data.pairs:  # also zh and zho
        raise ConfigError(f"data.src_lang={cfg.data.src_lang!r} and data.tgt_lang={cfg.data.tgt_lang!r} name "
                          f"the same language")
    if cfg.data.source == "local" and not cfg.data.local_dir:
        raise ConfigError("data.source=local needs data.local_dir (a directory with the parallel files)")
    _validate_decode(cfg.decode)
    _validate_decode(cfg.data.synthetic.decode, "data.synthetic.decode")
    if cfg.data.synthetic.mode not in ("replace", "join"):
        raise ConfigError(f"data.synthetic.mode={cfg.data.synthetic.mode!r} is not one of replace, join")
    if cfg.data.synthetic.backend not in ("auto", "mt", "ctranslate2"):
        raise ConfigError(f"data.synthetic.backend={cfg.data.synthetic.backend!r} is not one of auto, mt, ctranslate2")
    if cfg.data.synthetic.ratio is not None and not cfg.data.synthetic.ratio > 0:
        raise ConfigError(f"data.synthetic.ratio={cfg.data.synthetic.ratio!r} must be positive, or null for all")
    _validate_bounds(cfg)
    _validate_tokenizer(cfg)
    if cfg.trainer.init_from and not cfg.tokenizer.from_model:
        cfg.tokenizer.from_model = cfg.trainer.init_from  # a model keeps the vocabulary it was trained with
    return cfg


def _validate_tokenizer(cfg: TrainConfig) -> None:
    """Sizes and coverage; a joint model's null coverage is resolved here from its languages (each
    side's, with ``tokenizer.joint=false``, when that side's model is trained)."""
    tok = cfg.tokenizer
    if tok.character_coverage is None and tok.joint:  # from the languages (mt.utils.languages)
        langs = {lang for pair in cfg.data.pairs for lang in pair.split("-")} or {cfg.data.src_lang,
                                                                                   cfg.data.tgt_lang}
        tok.character_coverage = min(language(lang).character_coverage for lang in langs)
    if tok.character_coverage is not None and not 0.0 < tok.character_coverage <= 1.0:
        raise ConfigError(f"tokenizer.character_coverage={tok.character_coverage!r} must be in (0, 1]")
    for key in ("vocab_size", "src_vocab_size", "tgt_vocab_size"):
        size = getattr(tok, key)
        if size is not None and not 8 <= size <= 65535 * 16:
            raise ConfigError(f"tokenizer.{key}={size} must be between 8 and {65535 * 16}")
        if key != "vocab_size" and size is not None and tok.joint:
            raise ConfigError(f"tokenizer.{key}={size} applies to separate vocabularies only; set "
                              f"tokenizer.joint=false, or size the joint model with tokenizer.vocab_size")


def split_pair(pair: str, key: str = "data.pairs") -> tuple[str, str]:
    """``"en-de"`` -> ``("en", "de")``; anything else is a ConfigError naming ``key``."""
    parts = str(pair).split("-")
    if len(parts) != 2 or not all(parts) or same_language(parts[0], parts[1]):
        raise ConfigError(f"{key}: {pair!r} is not a language pair such as en-de")
    return parts[0], parts[1]


def _validate_pairs(data: DataConfig) -> None:
    """With ``data.pairs``: well-formed, distinct pairs; ``src_lang``/``tgt_lang`` become the sets of
    their languages, joined with ``+`` (the names of the prepared files)."""
    if not data.pairs:
        return
    pairs = [split_pair(p) for p in data.pairs]
    if len(set(pairs)) != len(pairs):
        raise ConfigError(f"data.pairs={list(data.pairs)} names a pair twice")
    if data.source in ("backtranslate", "distill"):
        raise ConfigError("data.pairs cannot be combined with data.source=backtranslate or distill (yet)")
    if not data.pair_temperature > 0:
        raise ConfigError(f"data.pair_temperature={data.pair_temperature} must be positive")
    data.pairs = [f"{a}-{b}" for a, b in pairs]
    data.src_lang = "+".join(sorted({a for a, _ in pairs}))
    data.tgt_lang = "+".join(sorted({b for _, b in pairs}))


def _validate_bounds(cfg: TrainConfig) -> None:
    t = cfg.trainer
    for key in ("max_time_min", "budget_min", "max_epochs", "patience"):
        if getattr(t, key) < 0:
            raise ConfigError(f"trainer.{key}={getattr(t, key)!r} must be >= 0 (0 disables it)")
    if t.budget_min and cfg.optim.schedule == "inverse_sqrt":
        raise ConfigError(f"trainer.budget_min={t.budget_min} needs a schedule that ends: set "
                          f"optim.schedule=cosine (inverse_sqrt never reaches a floor), or use "
                          f"trainer.max_time_min for a plain time limit")
    if t.budget_dropout:
        if not isinstance(t.budget_dropout, Mapping):
            raise ConfigError(f"trainer.budget_dropout={t.budget_dropout!r} must map update counts to "
                              f"dropout rates, e.g. {{0: 0.1, 4000: 0.2}}")
        rates = {int(k): float(v) for k, v in t.budget_dropout.items()}
        if not t.budget_min or not 0 < t.budget_dropout_at < 1:
            raise ConfigError(f"trainer.budget_dropout={t.budget_dropout} needs trainer.budget_min > 0 and "
                              f"0 < trainer.budget_dropout_at < 1 (now {t.budget_min}, {t.budget_dropout_at})")
        if any(k < 0 or not 0 <= v < 1 for k, v in rates.items()):
            raise ConfigError(f"trainer.budget_dropout={t.budget_dropout}: keys are update counts >= 0, "
                              f"values dropout rates in [0, 1)")
        t.budget_dropout = rates
    if t.budget_min and t.max_time_min and t.max_time_min < t.budget_min:
        raise ConfigError(f"trainer.max_time_min={t.max_time_min} would stop the run before its "
                          f"trainer.budget_min={t.budget_min} ends; set trainer.max_time_min=0 "
                          f"(the budget stops the run itself)")


def from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a plain mapping; unknown keys raise ConfigError with a suggestion."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown config key {prefix}{key}{hint}")
        sub = fields[key].type
        sub_cls = _DATACLASSES.get(sub if isinstance(sub, str) else getattr(sub, "__name__", ""))
        if sub_cls is not None and isinstance(value, Mapping):
            value = from_dict(sub_cls, value, prefix=f"{prefix}{key}.")
        kwargs[key] = value
    return cls(**kwargs)


_DATACLASSES = {
    c.__name__: c
    for c in (DataConfig, TokenizerConfig, ModelConfig, OptimConfig, TrainerConfig, DecodeConfig, SyntheticConfig)
}


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data copy of a config dataclass (safe to store in a weights_only checkpoint)."""
    return dataclasses.asdict(cfg)


def _checkpoint_list(value: Any, key: str = "checkpoint") -> list[str]:
    if isinstance(value, str):
        value = [value]
    value = [str(v) for v in (value or [])]
    if not value:
        raise ConfigError(f"{key} is required: checkpoint=PATH (or checkpoint=[A,B] to ensemble)")
    return value


def translate_config(data: Mapping[str, Any]) -> TranslateConfig:
    """Typed, validated TranslateConfig from a resolved plain mapping."""
    data = dict(data)
    backend = data.get("backend", "mt")
    if backend not in _BACKENDS:
        raise ConfigError(f"backend={backend!r} is not one of {', '.join(_BACKENDS)}")
    if backend == "mt":
        data["checkpoint"] = _checkpoint_list(data.get("checkpoint"))
    elif not data.get("model_dir"):
        raise ConfigError("backend=ctranslate2 needs model=DIR, a directory written by "
                          "scripts/export.py format=ctranslate2")
    else:
        data["checkpoint"] = list(data.get("checkpoint") or [])
    cfg = from_dict(TranslateConfig, data)
    _validate_decode(cfg.decode)
    if not cfg.chunk_lines > 0:
        raise ConfigError(f"chunk_lines={cfg.chunk_lines!r} must be positive")
    if not cfg.ct2_intra_threads >= 1:
        raise ConfigError(f"ct2_intra_threads={cfg.ct2_intra_threads!r} must be at least 1")
    if cfg.shard is not None:
        _check_shard(cfg.shard)
    if cfg.threads < 0:
        raise ConfigError(f"threads={cfg.threads!r} must be 0 (automatic) or more")
    return cfg


def _check_shard(shard: str) -> None:
    """``i/n`` with 0 <= i < n."""
    index, _, count = str(shard).partition("/")
    if not (index.isdigit() and count.isdigit() and int(count) >= 1):
        raise ConfigError(f"shard={shard!r} must be i/n, e.g. shard=0/4 for the first of 4 jobs")
    if int(index) >= int(count):
        raise ConfigError(f"shard={shard}: the index counts from 0, so {count} jobs are shard=0/{count} to "
                          f"shard={int(count) - 1}/{count} (Slurm: --array=0-{int(count) - 1})")


def export_config(data: Mapping[str, Any]) -> ExportConfig:
    """Typed, validated ExportConfig from a resolved plain mapping."""
    cfg = from_dict(ExportConfig, data)
    if not cfg.checkpoint:
        raise ConfigError("checkpoint is required: checkpoint=PATH (e.g. outputs/RUN/checkpoints/best.pt)")
    if not cfg.output:
        raise ConfigError("output is required: output=DIR, the directory to write the exported model to")
    if cfg.quantization not in _QUANTIZATIONS:
        raise ConfigError(f"quantization={cfg.quantization!r} is not one of {', '.join(_QUANTIZATIONS)}")
    if cfg.format == "huggingface" and cfg.quantization != "none":
        raise ConfigError(f"quantization={cfg.quantization} applies to format=ctranslate2 only; the "
                          f"Hugging Face export keeps float32 weights")
    return cfg


def evaluate_config(data: Mapping[str, Any]) -> EvaluateConfig:
    """Typed, validated EvaluateConfig from a resolved plain mapping."""
    data = dict(data)
    if data.get("hyp") is None or data.get("checkpoint"):
        data["checkpoint"] = _checkpoint_list(data.get("checkpoint"))
    cfg = from_dict(EvaluateConfig, data)
    _validate_decode(cfg.decode)
    if cfg.hyp is not None:
        if cfg.ref is None or cfg.checkpoint or cfg.testset:
            raise ConfigError("hyp=FILE scores existing translations: it needs ref=FILE (and langpair=SRC-TGT "
                              "for the target language), and no checkpoint or testset")
        return cfg
    if cfg.testset is None and (cfg.src is None or cfg.ref is None):
        raise ConfigError("evaluate needs src=FILE and ref=FILE, or testset=NAME langpair=SRC-TGT")
    if cfg.testset is not None and cfg.langpair is None:
        raise ConfigError(f"testset={cfg.testset} needs langpair=SRC-TGT (e.g. langpair=en-de)")
    return cfg


def _validate_decode(d: DecodeConfig, prefix: str = "decode") -> None:
    for key in ("precision", "device"):
        value, choices = getattr(d, key), _CHOICES[f"decode.{key}"]
        if value not in choices:
            raise ConfigError(f"{prefix}.{key}={value!r} is not one of {', '.join(choices)}")
    for key in ("beam_size", "max_tokens", "nbest"):
        if not getattr(d, key) > 0:
            raise ConfigError(f"{prefix}.{key}={getattr(d, key)!r} must be positive")
    if d.no_repeat_ngram_size < 0:
        raise ConfigError(f"{prefix}.no_repeat_ngram_size={d.no_repeat_ngram_size} must be >= 0 (0 disables it)")
    if d.nbest > d.beam_size:
        raise ConfigError(f"{prefix}.nbest={d.nbest} exceeds {prefix}.beam_size={d.beam_size}")
    if d.sampling and (d.sampling_topk < 0 or not d.sampling_temperature > 0 or d.nbest > 1):
        raise ConfigError(f"{prefix}.sampling: sampling_topk={d.sampling_topk} must be >= 0, sampling_temperature="
                          f"{d.sampling_temperature} positive, and nbest={d.nbest} 1 (one sample per line)")


def train_config(data: Mapping[str, Any]) -> TrainConfig:
    """Typed, validated TrainConfig from a resolved plain mapping (e.g. ``OmegaConf.to_container``)."""
    return validate(from_dict(TrainConfig, data))


def serve_config(data: Mapping[str, Any]) -> ServeConfig:
    """Typed, validated ServeConfig from a resolved plain mapping. ``language_id`` is checked against
    its registry (``mt.serve.langid``) where that is read."""
    cfg = from_dict(ServeConfig, data)
    if not cfg.model_path:
        raise ConfigError("model is required: model=PATH, an mt checkpoint (.pt), a Marian directory or a "
                          "CTranslate2 export directory")
    _validate_decode(cfg.decode)
    if cfg.decode.nbest != 1:
        raise ConfigError(f"decode.nbest={cfg.decode.nbest}: the server answers one translation per text; "
                          f"leave decode.nbest at 1")
    if not 0 <= cfg.port <= 65535:
        raise ConfigError(f"port={cfg.port} must be between 0 and 65535")
    for key in ("max_chars", "max_batch_tokens", "max_queue", "ct2_intra_threads"):
        if not getattr(cfg, key) >= 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} must be at least 1")
    for key in ("max_wait_ms", "retry_after_s", "decode_calls"):
        if not getattr(cfg, key) >= 0:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} must be >= 0")
    return cfg
