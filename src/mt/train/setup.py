"""Building what the trainer runs on: device, precision, prepared data, the model and its wrappers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mt.config import ModelConfig, TrainConfig
from mt.data.batching import EpochBatchSampler, batch_by_tokens, temperature_sample
from mt.data.dataset import TokenPairDataset
from mt.data.formats import FORMATS, model_format
from mt.data.loader import BatchLoader
from mt.data.prepare import PreparedData, cache_root, find_prepared, load_prepared, prepare_data, prepared_dir
from mt.decode.synthetic import build_synthetic
from mt.model import VocabInfo
from mt.model import build_model as build_transformer
from mt.model.transformer import Transformer
from mt.utils.dist import DistInfo, barrier
from mt.utils.errors import MTError
from mt.utils.logging import get_logger
from mt.utils.shared_storage import Heartbeat, check_shared_dirs, wait_for
from mt.utils.text import resolve_path

log = get_logger(__name__)

def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AMX or AVX512-BF16). Without either, PyTorch
    emulates bf16 matmuls and they run tens of times slower than fp32 (measured on an AVX2-only
    EPYC: 1-7 vs 37 GFLOP/s; see docs/benchmarks.md)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def _cuda_native_bf16() -> bool:
    # Without including_emulation=False, pre-Ampere GPUs report bf16 support (emulated, slow).
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3 has no such argument and reports native support only
        return torch.cuda.is_bf16_supported()


def resolve_precision(device: torch.device, precision: str) -> str:
    """Turn ``auto`` into the fastest safe choice for ``device``; reject impossible choices."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if _cuda_native_bf16() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if device.type == "cuda" and precision == "bf16" and not _cuda_native_bf16():
        raise MTError("trainer.precision=bf16 needs an Ampere or newer GPU; use trainer.precision=fp16")
    if device.type == "cpu" and precision == "bf16" and not cpu_has_fast_bf16():
        log.warning("this CPU has no native bf16 (no AMX/AVX512-BF16): bf16 will be much slower than "
                    "fp32; trainer.precision=auto picks fp32 here")
    return precision


PREPARE_STATUS = ".prepare-status.json"
"""Rank 0's heartbeat while it prepares the data, in the run directory (see mt.utils.shared_storage)."""


def check_parent(cfg: TrainConfig) -> None:
    """``trainer.init_from`` names a model mt can start from (a checkpoint or a Marian directory), or
    an error naming that key."""
    if not cfg.trainer.init_from:
        return
    path = resolve_path(cfg.trainer.init_from, cfg.work_dir)
    if not path.exists():
        raise MTError(f"trainer.init_from={cfg.trainer.init_from}: {path} does not exist")
    fmt = model_format(path)
    if fmt not in ("checkpoint", "marian"):
        raise MTError(f"trainer.init_from={cfg.trainer.init_from}: {path} is {FORMATS[fmt].summary}, which has no "
                      f"PyTorch weights to start from; give an mt checkpoint or a Marian model directory")


def load_data(cfg: TrainConfig, info: DistInfo) -> PreparedData:
    """Rank 0 prepares (or reuses) the cached data; the other ranks open the same files.

    Under torchrun, every rank first checks that it sees rank 0's run directory and data cache, and
    translates its share of a synthetic corpus (``build_synthetic``). While rank 0 prepares, the
    others poll for the finished directory with no collective pending, so preparing may take longer
    than the process-group timeout; a failure on rank 0 ends their wait.
    """
    work_dir, run_dir = Path(cfg.work_dir), Path(cfg.run_dir)
    check_parent(cfg)  # before minutes of translating or preparing, not after
    token = check_shared_dirs({"run directory (hydra.run.dir)": run_dir,
                               "data cache (data.cache_dir)": cache_root(cfg.data, work_dir)})
    status = run_dir / PREPARE_STATUS
    if info.is_main:
        with Heartbeat(status, token) if info.distributed else contextlib.nullcontext():
            build_synthetic(cfg.data, work_dir, progress=cfg.trainer.progress)  # data.source=backtranslate/distill
            directory = prepare_data(cfg.data, cfg.tokenizer, work_dir, progress=True)
    else:
        # Its share of a synthetic corpus's chunks, translated while rank 0 does its own (and waits for all).
        build_synthetic(cfg.data, work_dir, progress=False, wait=False)
        directory = prepared_dir(cfg.data, cfg.tokenizer, work_dir)
        wait_for(lambda: find_prepared(cfg.data, cfg.tokenizer, work_dir) is not None, status, token,
                 f"preparing the data in {directory}")
    barrier()  # everyone is here within a poll interval of rank 0
    if info.is_main:
        status.unlink(missing_ok=True)
    return load_prepared(directory, cfg.data.src_lang, cfg.data.tgt_lang)


def build_model(cfg: ModelConfig, data: PreparedData, *, cpu_training: bool = False) -> Transformer:
    """The Transformer for the prepared data's vocabulary (``mt.model.build_model``), with the CPU
    training kernels when ``cpu_training``."""
    return build_transformer(cfg, VocabInfo.from_tokenizer(data.tokenizer), cpu_training=cpu_training)


def build_loader(cfg: TrainConfig, data: PreparedData, info: DistInfo, *, pad_to_multiple: int, prefetch: int,
                 pin_memory: bool) -> BatchLoader:
    """Training batches: fresh length-bucketed batches every epoch (ties broken at random), this
    rank's share, all from the seed; resumable (``state_dict``)."""
    tc, tokenizer = cfg.trainer, data.tokenizer
    train: TokenPairDataset = data.split("train")

    groups = _pair_groups(cfg, data, train)

    def epoch_batches(epoch: int) -> list:
        if groups is None:
            return batch_by_tokens(train.src_lengths, train.tgt_lengths, tc.max_tokens,
                                   pad_to_multiple=pad_to_multiple, shuffle_ties=(tc.seed, epoch))
        chosen = temperature_sample(groups, cfg.data.pair_temperature, (tc.seed, epoch))
        batches = batch_by_tokens(train.src_lengths[chosen], train.tgt_lengths[chosen], tc.max_tokens,
                                  pad_to_multiple=pad_to_multiple, shuffle_ties=(tc.seed, epoch))
        return [chosen[b] for b in batches]

    try:  # a sentence over the budget, or fewer batches than ranks, is the user's to fix
        sampler = EpochBatchSampler(epoch_batches, seed=tc.seed, rank=info.rank, world_size=info.world_size)
        sampler.set_epoch(1)
    except ValueError as e:
        raise MTError(f"cannot batch the train split of {data.directory}: {e}") from None
    return BatchLoader(train, sampler, pad_id=tokenizer.pad_id, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id,
                       pad_to_multiple=pad_to_multiple, prefetch=prefetch, pin_memory=pin_memory)


def _pair_groups(cfg: TrainConfig, data: PreparedData, train: TokenPairDataset) -> np.ndarray | None:
    """With ``data.pairs`` and ``data.pair_temperature`` other than 1: ``pair_groups``, for temperature
    sampling; None when every epoch is the corpus."""
    if not cfg.data.pairs or cfg.data.pair_temperature == 1.0:
        return None
    groups = pair_groups(data, len(train))
    sizes = dict(zip(cfg.data.pairs, np.bincount(groups, minlength=len(cfg.data.pairs)).tolist(), strict=True))
    log.info("pair_temperature %.1f: train sentences per pair %s", cfg.data.pair_temperature, sizes)
    return groups


def pair_groups(data: PreparedData, n_train: int) -> np.ndarray:
    """The pair (its index in ``data.pairs``) of each of the ``n_train`` train sentences of a
    ``data.pairs`` corpus, from the per-pair sizes in meta.json (the pairs follow each other). Not from
    the target tags: ``[de-en, ro-en]`` share ``<2en>``."""
    sizes = [n for _, n in data.meta.get("pairs", {}).get("train") or []]
    if not sizes or sum(sizes) != n_train:
        raise MTError(f"{data.directory} does not say how many of its {n_train} train sentences each pair has "
                      f"(prepared by an older mt); delete it to prepare the data again, or set "
                      f"data.pair_temperature=1")
    return np.repeat(np.arange(len(sizes)), sizes)


def wrap_model(model: nn.Module, *, device: torch.device, info: DistInfo, compile_model: bool):
    """DDP and torch.compile around the pure model. Returns (module to train, DDP module or None).

    DDP goes inside compile, as PyTorch recommends, so the compiled graph can be split at DDP's
    gradient buckets and communication overlaps the backward pass.
    """
    ddp = None
    wrapped: nn.Module = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
        wrapped = ddp
    if compile_model:
        wrapped = torch.compile(wrapped)
    return wrapped, ddp
