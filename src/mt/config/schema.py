"""The config dataclasses: every key, its type, its default and (in the docstring under it) its
meaning. They are the one place defaults live: Hydra composes the YAML onto them (ConfigStore),
and docs/config.md's tables are generated from them (scripts/config_docs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mt.utils.errors import MTError


class ConfigError(MTError, ValueError):
    """A configuration value is missing, misspelt or out of range. The message names the key."""


@dataclass
class DataConfig:
    """Where the parallel text comes from, how it is cleaned, and where prepared data is cached."""

    source: str = "demo"
    """``demo`` (generated offline), ``hf`` (a HF ``datasets`` dataset) or ``local`` (text/TSV files)."""
    src_lang: str = "en"
    """Source language code; also the file suffix for local text and the key in HF translation dicts."""
    tgt_lang: str = "de"
    """Target language code."""
    name: str = "demo"
    """Short name of the corpus; prefixes the cache directory."""

    demo_sizes: dict[str, int] = field(default_factory=lambda: {"train": 40000, "valid": 500, "test": 500})
    """Number of generated pairs per split for ``source=demo``."""
    demo_seed: int = 1234
    """Seed of the demo generator; the corpus is a pure function of (sizes, seed)."""

    hf_path: str = "wmt/wmt14"
    """Dataset path for ``source=hf``: a hub id or a local directory in the hub's layout."""
    hf_config: str | None = "de-en"
    """Dataset config name, e.g. ``de-en``. The translation direction comes from src_lang/tgt_lang."""
    hf_splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "valid": "validation", "test": "test"}
    )
    """Maps our split names (train/valid/test) to the dataset's split names."""
    hf_streaming: bool = False
    """Stream every split instead of downloading the dataset into the local Arrow cache first (an
    unstreamed load of even the test split converts every split, train included)."""

    local_dir: str | None = None
    """Directory with local files for ``source=local``."""
    local_format: str = "text"
    """``text``: ``{prefix}.{lang}`` line-aligned pairs; ``tsv``: ``{prefix}.tsv`` with
    ``source<TAB>target``."""
    local_prefixes: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "valid": "valid", "test": "test"}
    )
    """Maps our split names to file prefixes inside ``local_dir``."""

    normalize: str | None = "NFKC"
    """Unicode normalization form applied to every split, or null for none."""
    max_words: int = 250
    """Train pairs with more words than this on either side are dropped (characters for a language
    written without spaces, such as zh or ja: ``mt.utils.languages``)."""
    max_tokens_per_sentence: int = 256
    """Train pairs longer than this (subword tokens, with EOS) on either side are dropped at binarization."""
    max_length_ratio: float = 3.0
    """Train pairs whose length ratio exceeds this are dropped (pairs of at most 3 words are exempt);
    lengths in words, or for a language written without spaces in characters divided by its characters
    per word (zh 1.75, ja 2.25: ``mt.utils.languages``)."""
    dedup: bool = True
    """Drop repeated (source, target) train pairs."""
    remove_copies: bool = True
    """Drop train pairs whose source equals the target."""
    cache_dir: str = "data/cache"
    """Root of the prepared-data cache, relative to the directory the command was started from."""
    num_workers: int = 0
    """Processes for encoding; 0 means one per CPU core."""

    pairs: list[str] = field(default_factory=list)
    """Several directions in one model, e.g. ``[en-de, en-fr, en-cs]``: each read by ``source`` with its
    languages, a target-language token (``<2de>``, Johnson et al. 2017) put before every source
    sentence, one joint SentencePiece model, and per-pair valid and test scores. Empty: the one pair
    ``src_lang``-``tgt_lang``. With pairs, ``src_lang``/``tgt_lang`` become the sets of languages
    (``en`` and ``cs+de+fr``), which name the prepared files."""
    pair_temperature: float = 1.0
    """With ``pairs``: each epoch draws pair p's sentences with probability proportional to
    ``share_p ** (1 / T)`` (Arivazhagan et al. 2019): 1 keeps the corpus proportions, larger values
    lift the smaller pairs (5 is common), every epoch keeping the corpus size."""
    base_source: str = "local"
    """For the sources that add translated text (``backtranslate``, ``distill``): the source of the
    parallel text and of the valid and test splits (``local`` or ``hf``, read with its own keys)."""
    synthetic: SyntheticConfig = field(default_factory=lambda: SyntheticConfig())
    """The translated corpus of ``source=backtranslate`` or ``source=distill`` (see docs/extending.md)."""


@dataclass
class TokenizerConfig:
    """The SentencePiece models trained on the cleaned train split: one joint model, or one per side."""

    vocab_size: int = 8000
    """Size of the joint vocabulary, special pieces (pad, unk, bos, eos) included; with ``joint=false``
    the size of each side's vocabulary unless ``src_vocab_size`` / ``tgt_vocab_size`` say otherwise."""
    joint: bool = True
    """One SentencePiece model for both languages (and one embedding table for source, target and
    output with ``model.tie_embeddings``). ``false``: one model per side, each trained on its own
    language(s) with its own size and character coverage; the target embedding is then tied to the
    output projection only. Separate models suit pairs of distant scripts (zh, ja, ru with en), where
    a joint vocabulary spends pieces on both scripts that one side never uses."""
    src_vocab_size: int | None = None
    """With ``joint=false``: the source vocabulary's size (null: ``vocab_size``)."""
    tgt_vocab_size: int | None = None
    """With ``joint=false``: the target vocabulary's size (null: ``vocab_size``)."""
    model_type: str = "unigram"
    """``unigram`` or ``bpe``."""
    character_coverage: float | None = None
    """Share of character occurrences that get pieces of their own, in (0, 1]; the rarest rest become
    UTF-8 byte pieces with ``byte_fallback`` (else ``<unk>``). null: 0.9995 when either language has
    a large character set (zh, ja, ko), else 1.0 (``mt.utils.languages``)."""
    input_sentence_size: int = 2_000_000
    """Sentences sampled (per side) to train SentencePiece; keeps training to minutes on WMT."""
    byte_fallback: bool = True
    """Unknown characters become UTF-8 byte pieces instead of ``<unk>``."""
    from_model: str | None = None
    """Use an existing model's subword models instead of training them: a SentencePiece ``.model`` file,
    an mt checkpoint's, a transformers ``MarianMTModel`` directory's (``source.spm`` and ``target.spm``
    at ``vocab.json``'s ids) or a CTranslate2 export's; both sides where they differ. The other
    tokenizer settings are then unused. Set to
    ``trainer.init_from`` when that is set and this is not: a model keeps the vocabulary it was
    trained with."""


@dataclass
class ModelConfig:
    """Encoder-decoder Transformer (Vaswani et al. 2017). Defaults are Transformer-base."""

    encoder_layers: int = 6
    """Encoder layers."""
    decoder_layers: int = 6
    """Decoder layers."""
    d_model: int = 512
    """Model (embedding) width; must be divisible by ``n_heads``."""
    n_heads: int = 8
    """Attention heads."""
    ffn_dim: int = 2048
    """Inner width of the feed-forward sublayers."""
    dropout: float = 0.1
    """Dropout on the embeddings and on every sublayer output."""
    attention_dropout: float = 0.0
    """Dropout on the attention weights."""
    activation_dropout: float = 0.0
    """Dropout after the feed-forward activation."""
    activation: str = "relu"
    """``relu``, ``gelu`` or ``swish`` (OPUS-MT's)."""
    pre_norm: bool = False
    """Layer norm before each sublayer (more stable for deep/big models) instead of after."""
    tie_embeddings: bool = True
    """Share source, target and output embeddings; with separate vocabularies (``tokenizer.joint=false``)
    only the target embedding and the output projection are shared."""
    output_bias: bool = False
    """A learned bias on the output logits (Marian's ``final_logits_bias``; OPUS-MT models have one)."""
    max_positions: int = 1024
    """Longest sequence the sinusoidal position table covers."""


@dataclass
class OptimConfig:
    """AdamW with an inverse-square-root (or cosine) learning-rate schedule."""

    lr: float = 7e-4
    """Peak learning rate, reached at the end of warmup."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    """AdamW betas (two values)."""
    eps: float = 1e-9
    """AdamW epsilon."""
    weight_decay: float = 0.0
    """AdamW weight decay, applied to matrices only (not to biases or layer norms)."""
    warmup_steps: int = 4000
    """Steps of linear warmup from ``warmup_init_lr`` to ``lr``."""
    schedule: str = "inverse_sqrt"
    """``inverse_sqrt`` or ``cosine`` (cosine decays to ``min_lr`` at ``trainer.max_steps``, or when
    ``trainer.budget_min`` ends)."""
    min_lr: float = 0.0
    """Floor of the cosine schedule (unused by ``inverse_sqrt``)."""
    warmup_init_lr: float = 1e-7
    """Start of the linear warmup (the learning rate at step 0)."""
    clip_norm: float = 1.0
    """Gradient-norm clipping threshold; 0 disables clipping (the norm is still logged)."""
    label_smoothing: float = 0.1
    """Epsilon of the label-smoothed cross-entropy."""
    fused: bool = True
    """Use the fused (single-kernel) AdamW on CUDA and CPU."""


@dataclass
class TrainerConfig:
    """The training loop: budget, batching, precision, logging, validation, checkpoints."""

    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""
    precision: str = "auto"
    """``auto``, ``fp32``, ``bf16`` or ``fp16`` (fp16 uses dynamic loss scaling). ``auto`` picks bf16
    where the hardware computes it natively (Ampere+ GPUs; CPUs with AMX or AVX512-BF16), else fp32
    on CPU and fp16 on older GPUs."""
    threads: int = 0
    """CPU threads for torch; 0 leaves torch's default."""
    keep_freed_memory: bool = True
    """Training on CPU under glibc (Linux): malloc keeps freed memory for reuse instead of returning it
    to the kernel (``mallopt``: 32 MiB mmap threshold, no trimming), so each step does not fault in and
    zero its activations afresh (M30K-small: 3-5x fewer page faults, a median 8% more tokens/s in five
    pairs; docs/benchmarks.md#keeping-freed-memory-trainerkeep_freed_memory); the process keeps its
    peak memory. Does nothing when training on GPUs. Process-wide, so only train.py (and the
    benchmarks) apply it: a Trainer built in a notebook leaves malloc alone. Without code, glibc's
    environment variables do the same: ``MALLOC_MMAP_THRESHOLD_=33554432
    MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=268435456``."""
    compile: bool = False
    """Wrap the model in ``torch.compile``."""
    cpu_kernels: bool = True
    """Training on CPU: attention as plain products and cheaper dropout masks
    (``mt.model.cpu_paths``), chosen when the model is built; false keeps PyTorch's fused attention
    and ``nn.Dropout``. M30K-small on 2 Zen 4 cores: 1.35-1.56x the tokens/s in bf16, about even in
    fp32. No effect on GPUs, or on decoding."""
    seed: int = 1
    """Seed of the data order and (plus the rank) of torch's RNG."""
    max_tokens: int = 4096
    """Token budget per batch and GPU, padding included (source or target side, whichever is longer)."""
    update_freq: int = 1
    """Accumulate gradients over this many batches per optimizer step."""
    pad_to_multiple: int = 0
    """Pad batch lengths to a multiple of this (regular GEMM shapes for tensor cores); 0 picks 8 on
    CUDA and 1 (no extra padding) on CPU. The token budget counts the padding."""
    prefetch_batches: int = -1
    """Batches collated ahead of the step in a background thread (pinned on CUDA); 0 collates on the
    training thread; -1 picks 4 on CUDA or with a core to spare beside torch's threads, else 0 (a
    loader thread competing for the cores slows a CPU step)."""
    max_steps: int = 100_000
    """Stop after this many optimizer steps."""
    max_epochs: int = 0
    """Stop after this many epochs; 0 means no limit."""
    max_time_min: float = 0.0
    """Stop after this many minutes of training; 0 means no limit. A hard cap: the learning-rate
    schedule does not know about it (a cosine cut off by it never reaches its floor, and the log warns;
    see ``budget_min``)."""
    budget_min: float = 0.0
    """Wall-clock budget in minutes that the learning-rate schedule follows: warm-up in updates, then
    the cosine decay reaches ``optim.min_lr`` when the budget ends, and the run stops there. Counts
    training, validation and checkpoints, keeping time for the final validation; 0 disables. With
    ``max_steps`` too, the decay ends at whichever comes first. See
    docs/config.md#budgets-and-stopping."""
    budget_dropout: dict[int, float] | None = None
    """Budget runs: the residual dropout (``model.dropout``) chosen from the updates the budget will
    buy, keyed by the fewest projected updates each rate needs: ``{0: 0.1, 4000: 0.2}`` trains on with
    0.2 where 4,000 or more updates are projected, else with 0.1 (a faster machine makes more updates,
    and more updates overfit a small corpus sooner). The projection (updates so far over minutes so
    far, times the budget) is made once ``budget_dropout_at`` of the budget has passed, the same on
    every rank; until then, and below every key, ``model.dropout`` holds. The choice is logged, kept
    in ``last.pt`` (a resumed run keeps it) and recorded in ``results.json`` (``budget_dropout``).
    Needs ``trainer.budget_min``. None: ``model.dropout``."""
    budget_dropout_at: float = 0.1
    """Fraction of the budget after which ``budget_dropout`` projects the run's updates."""
    log_every: int = 50
    """Steps between train log lines and TensorBoard ``train/*`` points."""
    valid_every: int = 1000
    """Validate every N steps (and at the end)."""
    save_every: int = 1000
    """Write ``last.pt`` every N steps (and at the end, and on SIGTERM/SIGINT)."""
    init_from: str | None = None
    """Start from a trained model: an mt checkpoint (``.pt``) or a transformers ``MarianMTModel``
    directory (``save_pretrained``'s layout, OPUS-MT models included). Weights only: the optimizer,
    the schedule and the step count start afresh, and the data is prepared with the parent's
    tokenizer (``tokenizer.from_model``). The model settings of shape (layers, widths, heads,
    activation, norms, embeddings) must be the parent's; a run directory with a ``last.pt`` resumes
    instead, exactly."""
    validate_at_start: bool = False
    """Validate once before the first update (with ``init_from``: the parent's score on this data)."""
    keep_last: int = 3
    """Keep this many step checkpoints besides ``last.pt``/``best.pt``; 0 keeps none."""
    valid_bleu: bool = True
    """Decode the valid split with the beam decoder at validation and report BLEU."""
    valid_bleu_max_sentences: int = 500
    """Decode at most this many valid sentences for BLEU during training."""
    best_metric: str = "bleu"
    """``bleu`` (higher is better) or ``loss`` (lower is better) picks ``best.pt``."""
    patience: int = 0
    """Stop after this many validations without improvement; 0 disables early stopping."""
    average_last: int = 0
    """At the end, average the last N step checkpoints into ``averaged_lastN.pt`` and validate the
    average; the test split is scored with whichever of it and ``best.pt`` scores higher on valid
    (``trainer.best_metric``; a tie keeps ``best.pt``), and ``results.json`` records the choice and
    both valid scores under ``chosen``. 0 disables."""
    max_bad_steps: int = 5
    """Stop with an error after this many consecutive updates skipped for non-finite gradients (fp16
    overflows count only once the loss scale has fallen below 1e-4)."""
    test_at_end: bool = True
    """Decode and score the test split at the end with ``best.pt`` (or the checkpoint average chosen
    over it on valid, see ``average_last``), into ``results.json`` (which records how training ended in
    any case). Sweeps turn it off: they choose on valid."""
    num_sample_translations: int = 3
    """Sample translations written to TensorBoard at each validation."""
    progress: bool = True
    """Show a progress bar on rank 0."""
    dist_timeout_min: float = 30.0
    """Under torchrun, a collective (gradient all-reduce, barrier) that waits this long for the other
    ranks fails. Data preparation is not bounded by it: the other ranks poll for rank 0's result."""


@dataclass
class DecodeConfig:
    """Beam search."""

    beam_size: int = 4
    """Beam width; 1 runs greedy search."""
    length_penalty: float = 1.0
    """GNMT length penalty alpha: scores are divided by ``((5 + len) / 6) ** alpha``."""
    max_len_a: float = 1.2
    """The slope of the length limit; see ``max_len_b``."""
    max_len_b: int = 10
    """Hypotheses stop at ``max_len_a * src_len + max_len_b`` tokens."""
    min_len: int = 1
    """EOS is not allowed before this many tokens (a length limit below it wins)."""
    no_repeat_ngram_size: int = 0
    """Never repeat an n-gram of this many target tokens within a hypothesis (3 stops a loop of a
    single-character piece at three); 0 disables it. A guard against decoder loops; see
    docs/benchmarks.md#character-loops for what it does to BLEU."""
    max_tokens: int = 8000
    """Source tokens per decoding batch (inputs are sorted by length, order restored)."""
    nbest: int = 1
    """Hypotheses returned per input; ``translate.py`` writes ``index<TAB>score<TAB>text`` lines when
    > 1."""
    sampling: bool = False
    """Sample one translation per line from the model instead of searching (back-translation:
    Edunov et al. 2018); ``beam_size`` and ``nbest`` are then unused."""
    sampling_topk: int = 0
    """With ``sampling``: draw from the k most probable tokens only; 0 draws from all."""
    sampling_temperature: float = 1.0
    """With ``sampling``: divide the log-probabilities by this before drawing (below 1 sharpens)."""
    precision: str = "fp32"
    """``fp32``, ``bf16`` or ``fp16`` for inference (bf16 only pays on GPUs and AMX/AVX512-BF16 CPUs)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""


@dataclass
class SyntheticConfig:
    """A corpus made by translating with trained models: back-translation of monolingual target-side
    text by a reverse model, or the training source translated by a teacher (distillation). Built
    once before data preparation, cached by the digests of the models, the input and the decoding
    settings, and resumable after a crash."""

    models: list[str] = field(default_factory=list)
    """The translating model: an mt checkpoint, a Marian directory, or a CTranslate2 export directory
    (``scripts/export.py format=ctranslate2``); several checkpoints ensemble. See ``backend``."""
    mono: str | None = None
    """``backtranslate``: monolingual text in the target language, one sentence per line."""
    decode: DecodeConfig = field(default_factory=lambda: DecodeConfig())
    """How the corpus is translated: beam search by default; ``decode.sampling=true`` samples."""
    ratio: float | None = None
    """``backtranslate``: at most this many synthetic pairs per parallel pair (the first ones of the
    monolingual file); null keeps them all."""
    tag: str | None = None
    """A token put before every synthetic source sentence (tagged back-translation, Caswell et al.
    2019), e.g. ``<BT>``; it becomes one piece of the vocabulary. null: untagged."""
    mode: str = "replace"
    """``distill``: ``replace`` the references by the teacher's translations, or ``join`` both."""
    chunk_lines: int = 5000
    """Lines translated between two saves of the partial output (a crash loses at most this many)."""
    seed: int = 1
    """Seed of ``decode.sampling`` (each chunk is drawn from ``seed`` and its first line: resumable)."""
    backend: str = "auto"
    """What translates a checkpoint: ``auto`` converts one checkpoint (or Marian directory) to a
    CTranslate2 int8 model in the corpus's cache directory and translates with it when CTranslate2 is
    installed and the decoding runs on CPU (several times mt's decoder there), else mt's decoder;
    ``mt`` always mt's decoder; ``ctranslate2`` always the conversion (an error where it cannot run).
    Ensembles and CTranslate2 export directories named in ``models`` ignore it."""


@dataclass
class TrainConfig:
    """Everything ``train.py`` needs."""

    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    name: str = "demo"
    """Name of the experiment; names the output directory and appears in logs and results. Each
    experiment sets it."""
    run_id: str = ""
    """Name of the run directory under ``outputs/<experiment>/``; identical on every rank. In
    ``train.py``: ``$MT_RUN_ID`` if set, else the torchrun rendezvous id under torchrun, else a
    timestamp. Reusing an id resumes that run."""
    run_dir: str = "."
    """Output directory of this run (set from Hydra's run dir)."""
    work_dir: str = "."
    """Directory the command was started from; relative data paths are resolved against it."""


@dataclass
class TranslateConfig:
    """Everything ``translate.py`` needs."""

    decode: DecodeConfig = field(default_factory=DecodeConfig)
    """The ``decode`` group: beam search as in training."""
    checkpoint: list[str] = field(default_factory=list)
    """One checkpoint, or several to ensemble (``checkpoint=[a.pt,b.pt]``); for ``backend=mt``."""
    backend: str = "mt"
    """``mt`` (this project's PyTorch decoder, on checkpoints) or ``ctranslate2`` (on a directory written
    by ``scripts/export.py format=ctranslate2``, given as ``model_dir``; needs ``pip install -e
    ".[ct2]"``)."""
    model_dir: str | None = None
    """The exported CTranslate2 model directory, for ``backend=ctranslate2``. On the command line
    ``model=DIR`` works too (``translate.py`` passes it on as ``model_dir``: for Hydra, ``model`` is the
    training config group)."""
    ct2_intra_threads: int = 1
    """``backend=ctranslate2`` on CPU: threads per batch; cores // this many batches are translated at
    once. 1 gives the most sentences/s; more lowers the latency of a single batch."""
    ct2_same_length: bool | None = None
    """``backend=ctranslate2``: batches hold sources of one length only, so no sentence is padded. null:
    for int8 models, whose translation of a sentence can change when it is padded (``mt.decode.ct2``);
    then a line's translation does not depend on the lines around it (``serve.py`` gives the same)."""
    tgt_lang: str | None = None
    """For a model trained on several pairs (``data.pairs``): the language to translate into (each
    line gets its ``<2xx>`` tag; a line that starts with a tag of its own keeps it). A direction the
    model never trained on is translated zero-shot, with a warning."""
    src_lang: str | None = None
    """Optional, with ``tgt_lang``: the input's language, to warn about zero-shot directions."""
    input: str = "-"
    """Text file to translate, one sentence per line; ``-`` reads stdin."""
    output: str = "-"
    """Where translations go, one line per input line (n-best TSV lines with ``decode.nbest`` > 1);
    ``-`` writes stdout."""
    progress: bool = True
    """Progress bar (sentences/s) on stderr."""
    chunk_lines: int = 10_000
    """From a file to a file, translate this many lines at a time and keep each finished chunk (in a
    hidden ``.<output>.partial`` beside the output), so a rerun with the same arguments after a crash
    resumes after the last one (the output appears only when complete)."""
    shard: str | None = None
    """``i/n`` (from ``0/n`` to ``n-1/n``): this job translates chunks i, i+n, i+2n, ... of the input
    into their own files beside the output, for n independent jobs (a Slurm array, on a filesystem
    they share) whose output is written by the one that finds every chunk done (or by ``merge``),
    byte-identical to one process's. Under torchrun the ranks share the chunks this way by themselves
    (chunk i is rank i % world size's), and a shard is split again among its ranks."""
    merge: bool = False
    """Translate nothing: write the output from the chunks that shards translated with the same
    arguments; refused, naming them, while any chunk is missing."""
    threads: int = 0
    """CPU threads of each process (PyTorch, or CTranslate2's); 0: torch's default alone, the usable
    cores divided by the processes on this node under torchrun (which would set 1 thread)."""
    work_dir: str = "."
    """Directory the command was started from; relative paths are resolved against it (the job
    sets it from Hydra's ``runtime.cwd``)."""


@dataclass
class EvaluateConfig:
    """Everything ``evaluate.py`` needs."""

    decode: DecodeConfig = field(default_factory=DecodeConfig)
    """The ``decode`` group: beam search as in training."""
    checkpoint: list[str] = field(default_factory=list)
    """One checkpoint, or several to ensemble (``checkpoint=[a.pt,b.pt]``)."""
    src: str | None = None
    """Local source file, one sentence per line (with ``ref``, aligned with it)."""
    ref: str | None = None
    """Local reference file (with ``src``)."""
    testset: str | None = None
    """A sacreBLEU test set name such as ``wmt14/full`` (with ``langpair``), instead of src/ref.
    ``wmt14/full`` is newstest2014 with all 3,003 lines, the set the papers and the HF test split use
    (plain ``wmt14`` is the filtered 2,737-line set)."""
    langpair: str | None = None
    """Language pair for ``testset``, e.g. ``en-de``; with ``hyp``, its target picks BLEU's tokenizer."""
    hyp: str | None = None
    """Score this file of translations against ``ref`` instead of decoding (no checkpoint): like
    ``sacrebleu REF -i HYP -l SRC-TGT`` with ``langpair=SRC-TGT``."""
    output_dir: str | None = None
    """Where the JSON report and hypotheses go; default: next to the (first) checkpoint."""
    tensorboard: bool = False
    """Also log the scores into the checkpoint's run TensorBoard (``<run>/tensorboard`` for
    ``<run>/checkpoints/x.pt``)."""
    progress: bool = True
    """Progress bar (sentences/s) on stderr."""
    work_dir: str = "."
    """Directory the command was started from; relative paths are resolved against it (the job
    sets it from Hydra's ``runtime.cwd``)."""


@dataclass
class ExportConfig:
    """Everything ``scripts/export.py`` needs."""

    checkpoint: str | None = None
    """The mt checkpoint to export (e.g. ``outputs/RUN/checkpoints/best.pt``)."""
    format: str = "ctranslate2"
    """``ctranslate2`` (a CTranslate2 model directory, for ``translate.py backend=ctranslate2 model=DIR``
    or any CTranslate2 server) or ``huggingface`` (a directory for transformers'
    ``MarianMTModel`` / ``MarianTokenizer.from_pretrained(DIR)``)."""
    output: str | None = None
    """Directory to write; it must not exist yet unless ``overwrite`` is set."""
    quantization: str = "none"
    """CTranslate2 weight type: ``none`` (float32), ``int8``, ``int8_float16`` or ``float16``."""
    results: str | None = None
    """``results.json`` whose test scores go into the Hugging Face model card; default: the one of the
    checkpoint's run directory (``<run>/results.json``), when it exists."""
    overwrite: bool = False
    """Replace ``output`` if it exists."""
    work_dir: str = "."
    """Directory the command was started from; relative paths are resolved against it (the job
    sets it from Hydra's ``runtime.cwd``)."""


@dataclass
class ServeConfig:
    """Everything ``serve.py`` needs: the model, the HTTP side and the batching of requests."""

    decode: DecodeConfig = field(default_factory=DecodeConfig)
    """The ``decode`` group, as ``translate.py`` takes it: the same settings give the same translations."""
    model_path: str | None = None
    """The model to serve: an mt checkpoint (``.pt``), a transformers Marian directory or a CTranslate2
    export (``scripts/export.py format=ctranslate2``). On the command line ``model=PATH`` works too
    (``serve.py`` passes it on as ``model_path``: for Hydra, ``model`` is the training config group)."""
    host: str = "127.0.0.1"
    """Address to bind. The default answers this machine only; ``0.0.0.0`` answers every network (put
    a reverse proxy with TLS in front: docs/serve.md)."""
    port: int = 5000
    """TCP port (LibreTranslate's default)."""
    api_keys_file: str | None = None
    """A file with one API key per line (``#`` comments): ``/translate`` and ``/detect`` then need one
    of them as ``api_key``, as LibreTranslate clients send it. null: no key needed."""
    max_chars: int = 5000
    """The most characters of text one request may carry (all of its ``q`` together); more is refused
    with 413."""
    max_batch_tokens: int = 4096
    """Requests are merged into one decoding call of at most this many source tokens (a request larger
    than this is decoded alone)."""
    max_wait_ms: float = 10.0
    """The longest a waiting request waits for others to share its decoding call: while other calls
    run, or, with the decoder idle, for the clients the last call answered to send their next requests."""
    max_queue: int = 64
    """Requests waiting to be decoded; beyond this, requests are refused with 503 and Retry-After."""
    retry_after_s: int = 1
    """The Retry-After (seconds) of a 503 for a full queue."""
    access_log: bool = False
    """Log every request (uvicorn's access log). Off: the proxy in front logs requests, and a line per
    request is work the server does per request."""
    split_sentences: bool = True
    """Split each line of a request into sentences (``sentencex``) and translate them one by one, as
    a model trained on sentences expects; false sends each line whole, as ``translate.py`` does."""
    language_id: str | None = None
    """The language identifier behind ``source=auto`` and ``/detect``: ``langid`` (langid.py, limited
    to the model's source languages), or null to refuse ``source=auto``."""
    src_lang: str | None = None
    """The model's source language, for a model that does not record it (a Marian directory without
    ``tokenizer_config.json``); null: the model's own."""
    tgt_lang: str | None = None
    """The model's target language, for a single-target model that does not record it; null: the
    model's own."""
    ct2_intra_threads: int = 1
    """A CTranslate2 model on CPU: threads per batch, as for ``translate.py``."""
    ct2_same_length: bool | None = None
    """A CTranslate2 model: decode only sources of one length together, as for ``translate.py`` (null:
    for int8 models). With it, a line's translation does not depend on the requests it shares a call with."""
    decode_calls: int = 0
    """Decoding calls run at once, each on the requests that waited for it. 0: a CTranslate2 model on CPU
    runs one per worker (cores // ct2_intra_threads), any other model one (it uses every core itself)."""
    work_dir: str = "."
    """Directory the command was started from; relative paths are resolved against it (the job
    sets it from Hydra's ``runtime.cwd``)."""
