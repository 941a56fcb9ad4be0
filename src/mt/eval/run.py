"""The ``evaluate.py`` job: translate a test set with a checkpoint (or an ensemble) and score it.

The test set is either a pair of local files (``src=``/``ref=``) or a sacreBLEU test set
(``testset=wmt14/full langpair=en-de``: newstest2014 as the papers score it, 3,003 lines; plain
``wmt14`` is sacreBLEU's filtered 2,737-line en-de set), which sacreBLEU downloads once into its
cache (``~/.sacrebleu``, or ``$SACREBLEU``). Results go next to the (first) checkpoint, or into ``output_dir``:

    <checkpoint stem>.<test name>.json   scores, signatures, settings and speed
    <checkpoint stem>.<test name>.hyp    the translations, one per line
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
from pathlib import Path
from typing import Any

from mt.config import EvaluateConfig
from mt.data.sources.multi import with_target
from mt.decode.load import load_for_inference
from mt.decode.run import translate_lines
from mt.decode.targets import with_language_token
from mt.eval.metrics import character_loop_lines, score_corpus
from mt.utils.errors import MTError
from mt.utils.io import write_json
from mt.utils.languages import pair_languages, same_language
from mt.utils.logging import get_logger
from mt.utils.network import network_failure, short_reason
from mt.utils.text import read_text_lines, resolve_path, write_text_lines

log = get_logger(__name__)


@dataclasses.dataclass
class EvalData:
    """Aligned source and reference lines, and where they came from."""

    name: str
    """Short name used in output file names and TensorBoard tags, e.g. ``newstest2014`` or ``wmt14.en-de``."""
    src_path: str
    ref_path: str
    src_lines: list[str]
    ref_lines: list[str]


def fetch_sacrebleu_testset(testset: str, langpair: str) -> tuple[str, str]:
    """Paths of the source and (first) reference file of a sacreBLEU test set, downloaded into
    sacreBLEU's cache if needed. Unknown names and failed downloads raise MTError."""
    import sacrebleu.utils
    from sacrebleu.dataset import DATASETS

    if testset not in DATASETS:
        close = difflib.get_close_matches(testset, list(DATASETS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise MTError(f"testset={testset} is not a sacreBLEU test set{hint}; `sacrebleu --list` shows them")
    pairs = list(DATASETS[testset].langpairs)
    langpair = next((p for p in pairs if _same_pair(p, langpair)), langpair)  # eng-deu is en-de
    if langpair not in pairs:
        raise MTError(f"test set {testset} has no langpair={langpair}; it has {', '.join(pairs)}")
    try:
        src = sacrebleu.utils.get_source_file(testset, langpair)
        refs = sacrebleu.utils.get_reference_files(testset, langpair)
    except (Exception, SystemExit) as e:  # sacreBLEU raises URLError offline, or exits on a bad download
        raise MTError(_download_error(testset, langpair, e)) from None
    if not refs:
        raise MTError(f"sacreBLEU has no reference file for {testset} ({langpair})")
    if len(refs) > 1:
        log.warning("%s (%s) has %d references; scoring against the first only", testset, langpair, len(refs))
    return src, refs[0]


def _download_error(testset: str, langpair: str, exc: BaseException) -> str:
    """One message for a failed sacreBLEU download: offline (with the ways forward) or another cause."""
    cache = os.environ.get("SACREBLEU", "~/.sacrebleu")
    failure = network_failure(exc)
    if failure is None:
        reason = short_reason(exc) if str(exc) else f"{type(exc).__name__} (see sacreBLEU's message above)"
        return (f"could not download the test set {testset} ({langpair}) with sacreBLEU: {reason}; "
                f"delete {cache}/{testset} and try again, or pass local files: src=FILE ref=FILE")
    return (f"could not download the test set {testset} ({langpair}) with sacreBLEU: this machine seems "
            f"offline ({short_reason(failure)}). To proceed, either pass local files: src=FILE ref=FILE, "
            f"or copy sacreBLEU's cache ({cache}) from a machine that has downloaded {testset} (set "
            f"SACREBLEU=<dir> to use another location)")


def load_testset(cfg: EvaluateConfig) -> EvalData:
    """The source and reference lines ``cfg`` names; their line counts must match."""
    if cfg.testset is not None:
        src_path, ref_path = fetch_sacrebleu_testset(cfg.testset, str(cfg.langpair))
        name = f"{cfg.testset}.{cfg.langpair}".replace("/", "_")
    else:
        src_path = str(resolve_path(str(cfg.src), cfg.work_dir))
        ref_path = str(resolve_path(str(cfg.ref), cfg.work_dir))
        name = Path(src_path).stem
    src_lines, ref_lines = read_text_lines(src_path), read_text_lines(ref_path)
    if len(src_lines) != len(ref_lines):
        raise MTError(f"source {src_path} has {len(src_lines)} lines but reference {ref_path} has "
                      f"{len(ref_lines)}; they must be line-aligned")
    return EvalData(name, src_path, ref_path, src_lines, ref_lines)


def _same_pair(a: str, b: str) -> bool:
    """Whether two language pairs name the same direction, however spelt (``en-zh``, ``eng-cmn_Hans``)."""
    try:
        return all(map(same_language, pair_languages(a), pair_languages(b)))
    except MTError:
        return a == b


def _check_direction(info: dict[str, Any], langpair: str | None) -> None:
    """A test set in the wrong direction would give a meaningless near-zero BLEU: refuse it."""
    if langpair is None or "?" in (info["src_lang"], info["tgt_lang"]) or info.get("pairs"):
        return  # a data.pairs model translates what langpair asks (zero-shot directions with a warning)
    model_pair = f"{info['src_lang']}-{info['tgt_lang']}"
    if not _same_pair(model_pair, langpair):
        raise MTError(f"the checkpoint translates {model_pair} but langpair={langpair}; "
                      f"use langpair={model_pair} or a checkpoint for {langpair}")


def _target_lang(info: dict[str, Any], langpair: str | None) -> str | None:
    """The target language for the tokenized BLEU: the checkpoint's, else langpair's (None if unknown)."""
    if info.get("tgt_lang") not in (None, "?") and not info.get("pairs"):
        return str(info["tgt_lang"])
    if langpair and "-" in langpair:
        return pair_languages(langpair)[1]
    return None


def _tensorboard_dir(checkpoint: Path) -> Path:
    """``<run>/tensorboard`` for ``<run>/checkpoints/x.pt``, the layout train.py writes."""
    if checkpoint.resolve().parent.name != "checkpoints":
        raise MTError(f"tensorboard=true needs a checkpoint inside a run directory (<run>/checkpoints/x.pt), "
                      f"but {checkpoint} is not; drop tensorboard=true")
    return checkpoint.resolve().parent.parent / "tensorboard"


def _log_tensorboard(log_dir: Path, name: str, scores: dict[str, Any], step: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for metric in ("bleu", "chrf", "ter", "bleu_tokenized"):
            if metric in scores:
                writer.add_scalar(f"eval/{name}/{metric}", scores[metric], step)
        writer.add_text(f"eval/{name}/signatures",
                        "  \n".join(f"{k}: {v}" for k, v in scores["signatures"].items()), step)
    finally:
        writer.close()


def evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """Translate the test set of ``cfg``, print BLEU/chrF/TER with signatures, write the report and
    the hypotheses atomically, optionally log to TensorBoard; returns the report."""
    if cfg.hyp is not None:
        return score_file(cfg)
    checkpoints = [resolve_path(p, cfg.work_dir) for p in cfg.checkpoint]
    tb_dir = _tensorboard_dir(checkpoints[0]) if cfg.tensorboard else None  # fail before decoding
    test = load_testset(cfg)
    models, tokenizer, info = load_for_inference(checkpoints, cfg.decode.device)
    _check_direction(info, cfg.langpair)
    start = time.perf_counter()
    src_lang, tgt_lang = pair_languages(cfg.langpair) if cfg.langpair else (None, None)
    src_lines = with_target(test.src_lines, info.get("pairs") or [], tgt_lang, src_lang)  # data.pairs: tags
    if tokenizer.language_tokens():  # multi-target Marian models: >>xxx<< tokens
        src_lines = with_language_token(src_lines, tokenizer.language_tokens(), tgt_lang)
    hyps = translate_lines(models, tokenizer, src_lines, cfg.decode, progress=cfg.progress)
    seconds = time.perf_counter() - start
    scores = score_corpus(hyps, test.ref_lines, lang=_target_lang(info, cfg.langpair))

    out_dir = resolve_path(cfg.output_dir, cfg.work_dir) if cfg.output_dir else checkpoints[0].parent
    stem = f"{checkpoints[0].stem}.{test.name}"
    hyp_path, report_path = out_dir / f"{stem}.hyp", out_dir / f"{stem}.json"
    report = {
        "test": test.name, "src": test.src_path, "ref": test.ref_path, "num_sentences": len(hyps),
        **{k: scores[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized", "signatures", "bleu_detail")
           if k in scores},
        "checkpoints": info["checkpoints"], "step": info["step"],
        "src_lang": info["src_lang"], "tgt_lang": info["tgt_lang"],
        "decode": dataclasses.asdict(cfg.decode), "seconds": round(seconds, 3),
        "sentences_per_second": round(len(hyps) / seconds, 2) if seconds > 0 else 0.0,
        "hypotheses": str(hyp_path),
        "character_loops": len(character_loop_lines(test.src_lines, hyps)),
    }
    write_text_lines(str(hyp_path), hyps)
    write_json(report_path, report)
    print(f"{test.name}: {len(hyps)} sentences, {report['sentences_per_second']} sentences/s")
    _print_scores(scores)
    print(f"character loops: {report['character_loops']} of {len(hyps)} lines repeat a character 5+ times "
          f"where the source does not (scripts/repetitions.py lists them)")
    print(f"report: {report_path}\nhypotheses: {hyp_path}")
    if tb_dir is not None:
        _log_tensorboard(tb_dir, test.name, scores, int(info["step"] or 0))
        print(f"tensorboard: {tb_dir}")
    return report


def _print_scores(scores: dict[str, Any]) -> None:
    for metric, label in (("bleu", "BLEU"), ("chrf", "chrF"), ("ter", "TER "),
                          ("bleu_tokenized", "tokenized BLEU (papers' convention)")):
        if metric in scores:
            print(f"{label} = {scores[metric]:6.2f}  {scores['signatures'][metric]}")


def score_file(cfg: EvaluateConfig) -> dict[str, Any]:
    """``evaluate.py hyp=FILE ref=FILE langpair=SRC-TGT``: score existing translations (BLEU's tokenizer
    from the target language, as ``sacrebleu -l``), print and return the scores."""
    hyp_path, ref_path = resolve_path(str(cfg.hyp), cfg.work_dir), resolve_path(str(cfg.ref), cfg.work_dir)
    hyps, refs = read_text_lines(str(hyp_path)), read_text_lines(str(ref_path))
    if len(hyps) != len(refs):
        raise MTError(f"hypotheses {hyp_path} have {len(hyps)} lines but reference {ref_path} has {len(refs)}; "
                      f"they must be line-aligned")
    scores = score_corpus(hyps, refs, lang=_target_lang({}, cfg.langpair))
    _print_scores(scores)
    return {"hypotheses": str(hyp_path), "ref": str(ref_path), "num_sentences": len(hyps),
            **{k: scores[k] for k in ("bleu", "chrf", "ter", "bleu_tokenized", "signatures") if k in scores}}
