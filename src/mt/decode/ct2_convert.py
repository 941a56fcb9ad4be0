"""mt model -> CTranslate2 model directory: the writer of the CTranslate2 backend's format (``mt.decode.ct2``
reads it). ``scripts/export.py format=ctranslate2`` calls it, and so does ``mt.decode.synthetic``, which
converts a checkpoint itself to translate a corpus on CPU.

The spec is built from mt's own modules, one weight at a time, so every convention is explicit:

* post-norm or pre-norm as trained (``model.pre_norm``; pre-norm stacks end with a layer norm),
  layer-norm epsilon 1e-5 (``nn.LayerNorm``'s default), ReLU or exact (erf) GELU;
* token embeddings scaled by sqrt(d_model), then mt's sinusoidal table added. mt interleaves sin and
  cos (even dims sin, odd dims cos); CTranslate2's built-in table is sin-half/cos-half, so mt's
  table is written into the model as ``position_encodings`` and CTranslate2 uses it as is;
* fused projections map one to one: mt's self-attention ``qkv_proj`` (q; k; v stacked) is
  CTranslate2's ``linear[0]`` and cross-attention ``kv_proj`` (k; v) its ``linear[1]``;
* tied embeddings: the source, target and output matrices are the same tensor; CTranslate2 stores
  it once (it aliases equal variables) and the output projection has no bias, as in mt. With
  separate vocabularies the source and target vocabularies are registered apart, and only the
  target embedding and the output projection share a tensor;
* the source gets EOS appended by CTranslate2 itself (``add_source_eos``), decoding starts from
  BOS (``decoder_start_token``), as in mt's data pipeline.

The directory holds CTranslate2's ``model.bin``, ``config.json`` and vocabulary, plus
``sentencepiece.model`` (the joint subword model of the checkpoint, or its source side's, with
``target_sentencepiece.model`` beside it for separate vocabularies) and ``mt_export.json``
(languages, special ids, the model's ``max_positions``, and where it came from), which
``mt.decode.ct2`` reads to decode with the same rules as mt's own decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mt.data.tokenizer import Tokenizer
from mt.decode.ct2 import METADATA_FILE, SENTENCEPIECE_FILE, TARGET_SENTENCEPIECE_FILE
from mt.model.transformer import Transformer, sinusoidal_positions
from mt.utils.extras import require
from mt.utils.io import write_json

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which mt's layers use


def _np(t: torch.Tensor):
    return t.detach().to(torch.float32).cpu().numpy().copy()


def _set_linear(spec: Any, linear: torch.nn.Linear) -> None:
    spec.weight = _np(linear.weight)
    if linear.bias is not None:
        spec.bias = _np(linear.bias)


def _set_norm(spec: Any, norm: torch.nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _np(norm.weight), _np(norm.bias)


def _set_encoder_layer(spec: Any, layer: Any) -> None:
    attn = spec.self_attention
    _set_linear(attn.linear[0], layer.self_attn.qkv_proj)
    _set_linear(attn.linear[1], layer.self_attn.out_proj)
    _set_norm(attn.layer_norm, layer.attn_block.norm)
    _set_ffn(spec.ffn, layer)


def _set_decoder_layer(spec: Any, layer: Any) -> None:
    _set_linear(spec.self_attention.linear[0], layer.self_attn.qkv_proj)
    _set_linear(spec.self_attention.linear[1], layer.self_attn.out_proj)
    _set_norm(spec.self_attention.layer_norm, layer.self_block.norm)
    _set_linear(spec.attention.linear[0], layer.cross_attn.q_proj)
    _set_linear(spec.attention.linear[1], layer.cross_attn.kv_proj)
    _set_linear(spec.attention.linear[2], layer.cross_attn.out_proj)
    _set_norm(spec.attention.layer_norm, layer.cross_block.norm)
    _set_ffn(spec.ffn, layer)


def _set_ffn(spec: Any, layer: Any) -> None:
    _set_linear(spec.linear_0, layer.ffn.fc1)
    _set_linear(spec.linear_1, layer.ffn.fc2)
    _set_norm(spec.layer_norm, layer.ffn_block.norm)


def build_spec(model: Transformer, tokenizer: Tokenizer) -> Any:
    """The ``ctranslate2.specs.TransformerSpec`` of ``model`` with ``tokenizer``'s pieces as its
    source and target vocabularies (one list twice for a joint vocabulary)."""
    ct2 = require("ctranslate2", "ct2", "format=ctranslate2")
    specs = ct2.specs
    cfg = model.cfg
    activation = {"relu": specs.Activation.RELU, "gelu": specs.Activation.GELU,
                  "swish": specs.Activation.SWISH}[cfg.activation]
    spec = specs.TransformerSpec.from_config(
        (cfg.encoder_layers, cfg.decoder_layers), cfg.n_heads, pre_norm=cfg.pre_norm, activation=activation)
    positions = _np(sinusoidal_positions(cfg.max_positions, cfg.d_model))  # (P, D), mt's layout
    embedding = _np(model.src_embed.weight)  # (V, D)
    for side, layers in ((spec.encoder, model.encoder_layers), (spec.decoder, model.decoder_layers)):
        side.scale_embeddings = True
        side.position_encodings.encodings = positions
        for layer_spec, layer in zip(side.layer, layers, strict=True):
            (_set_encoder_layer if side is spec.encoder else _set_decoder_layer)(layer_spec, layer)
    spec.encoder.embeddings[0].weight = embedding
    spec.decoder.embeddings.weight = _np(model.tgt_embed.weight)
    spec.decoder.projection.weight = _np(model.output_weight)
    if model.output_bias is not None:
        spec.decoder.projection.bias = _np(model.output_bias)
    if cfg.pre_norm:
        _set_norm(spec.encoder.layer_norm, model.encoder_norm)
        _set_norm(spec.decoder.layer_norm, model.decoder_norm)
    pieces = [tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)]
    spec.register_source_vocabulary([tokenizer.source_piece(i) for i in range(tokenizer.src_vocab_size)])
    spec.register_target_vocabulary(pieces)
    spec.config.unk_token, spec.config.bos_token, spec.config.eos_token = (
        pieces[tokenizer.unk_id], pieces[tokenizer.bos_id], pieces[tokenizer.eos_id])
    spec.config.decoder_start_token = pieces[tokenizer.bos_id]
    spec.config.add_source_bos, spec.config.add_source_eos = False, True
    spec.config.layer_norm_epsilon = LAYER_NORM_EPS
    return spec


def export_ctranslate2(model: Transformer, tokenizer: Tokenizer, info: dict[str, Any], output: Path,
                       quantization: str) -> None:
    """Write the CTranslate2 directory of ``model`` to ``output`` (which must not exist: the caller
    writes into a temporary directory and renames it). ``quantization``: ``none`` keeps float32."""
    ct2 = require("ctranslate2", "ct2", "format=ctranslate2")
    spec = build_spec(model, tokenizer)

    class _Converter(ct2.converters.Converter):
        def _load(self):
            return spec

    _Converter().convert(str(output), quantization=None if quantization == "none" else quantization)
    (output / SENTENCEPIECE_FILE).write_bytes(tokenizer.to_bytes())
    if tokenizer.target_bytes() is not None:
        (output / TARGET_SENTENCEPIECE_FILE).write_bytes(tokenizer.target_bytes())
    write_json(output / METADATA_FILE, {
        "format": "ctranslate2", "quantization": quantization, "src_lang": info["src_lang"],
        "tgt_lang": info["tgt_lang"], "max_positions": model.cfg.max_positions,
        "vocab_size": tokenizer.vocab_size, "src_vocab_size": tokenizer.src_vocab_size, "pad_id": tokenizer.pad_id, "unk_id": tokenizer.unk_id,
        "bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id, "checkpoint": info["checkpoints"][0],
        "step": info["step"], "pairs": list(info.get("pairs") or []),
    })
