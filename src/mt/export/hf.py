"""mt checkpoint -> Hugging Face ``MarianMTModel`` directory (loads with no custom code).

``transformers``' Marian is the same post-norm Transformer with sinusoidal positions and a shared
vocabulary; what differs is mapped here:

* **Position table layout.** mt interleaves sin and cos (even dims sin, odd dims cos); Marian puts
  all sines first, then all cosines, with the same frequencies. Marian also never saves its table
  (it is rebuilt at load). So the export permutes the model's d_model coordinates instead: every
  weight that reads the residual stream gets its input columns permuted, every weight that writes
  it (and each layer norm's gain and bias) its rows. Layer norm and dot products do not care about
  the order of coordinates, so the permuted network computes exactly what mt's does, and mt's
  interleaved table becomes Marian's sin-half/cos-half one.
* **Fused projections** are split: ``qkv_proj`` -> ``q_proj, k_proj, v_proj``; ``kv_proj`` -> ``k_proj,
  v_proj``.
* **Special tokens.** Decoding starts from mt's BOS (Marian's usual start is PAD):
  ``decoder_start_token_id`` = BOS; PAD and BOS are never generated (``bad_words_ids``), and at the
  length limit EOS is forced (``forced_eos_token_id``), as in mt's search. ``MarianTokenizer`` appends
  ``</s>`` to the source, as mt's collation does, and maps pieces to mt's ids through ``vocab.json``.
* **Embedding tying** is stated, not assumed. ``share_encoder_decoder_embeddings`` says whether the
  source and target embeddings are one table (``model.shared``, also stored as both ``embed_tokens``)
  or two (``model.encoder.embed_tokens``, ``model.decoder.embed_tokens``, and no ``model.shared`` at
  all); ``tie_word_embeddings`` says whether ``lm_head`` is the target embedding or a weight of its
  own. mt's ``model.tie_embeddings=true`` is one table for all three; ``false`` is three tables.
* **Activation** is written out (Marian's default is not mt's); embeddings are scaled by
  sqrt(d_model) (``scale_embedding``); ``final_logits_bias`` is the model's output bias (zero without
  ``model.output_bias``); layer norms use 1e-5, as both do.

Pre-norm models have no Marian equivalent (Marian normalises after each sublayer) and are refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mt.data.tokenizer import Tokenizer
from mt.model.marian import interleaved_to_halves
from mt.model.transformer import Transformer
from mt.utils.errors import MTError
from mt.utils.extras import require


class _Permuter:
    """Weights of mt's modules with the d_model coordinates permuted (see the module docstring)."""

    def __init__(self, d_model: int):
        self.perm = interleaved_to_halves(d_model)

    def reads(self, weight: Tensor) -> Tensor:  # (out, D): a layer fed by the residual stream
        return weight[:, self.perm].contiguous()

    def writes(self, tensor: Tensor) -> Tensor:  # (D, ...) or (D,): a layer adding to the stream
        return tensor[self.perm].contiguous()


def _linear(out: dict[str, Tensor], name: str, weight: Tensor, bias: Tensor) -> None:
    out[f"{name}.weight"], out[f"{name}.bias"] = weight.contiguous(), bias.contiguous()


def _attention(out: dict[str, Tensor], prefix: str, attn: Any, p: _Permuter) -> None:
    """q/k/v/out projections of one mt ``Attention`` (self- or cross-) under Marian's names."""
    if attn.cross:
        q_w, q_b = attn.q_proj.weight, attn.q_proj.bias
        (k_w, v_w), (k_b, v_b) = attn.kv_proj.weight.chunk(2), attn.kv_proj.bias.chunk(2)
    else:
        (q_w, k_w, v_w), (q_b, k_b, v_b) = attn.qkv_proj.weight.chunk(3), attn.qkv_proj.bias.chunk(3)
    for name, w, b in (("q_proj", q_w, q_b), ("k_proj", k_w, k_b), ("v_proj", v_w, v_b)):
        _linear(out, f"{prefix}.{name}", p.reads(w), b)
    _linear(out, f"{prefix}.out_proj", p.writes(attn.out_proj.weight), p.writes(attn.out_proj.bias))


def _norm(out: dict[str, Tensor], name: str, norm: torch.nn.LayerNorm, p: _Permuter) -> None:
    _linear(out, name, p.writes(norm.weight), p.writes(norm.bias))


def _ffn(out: dict[str, Tensor], prefix: str, layer: Any, p: _Permuter) -> None:
    _linear(out, f"{prefix}.fc1", p.reads(layer.ffn.fc1.weight), layer.ffn.fc1.bias)
    _linear(out, f"{prefix}.fc2", p.writes(layer.ffn.fc2.weight), p.writes(layer.ffn.fc2.bias))
    _norm(out, f"{prefix}.final_layer_norm", layer.ffn_block.norm, p)


def embedding_layout(model: Transformer) -> tuple[bool, bool]:
    """``(shared, tied_output)``: whether ``model``'s source and target embeddings are one table, and
    whether its output projection is the target embedding; Marian's
    ``share_encoder_decoder_embeddings`` and ``tie_word_embeddings``."""
    return model.tgt_embed is model.src_embed, model.output_proj is None


def marian_state_dict(model: Transformer) -> dict[str, Tensor]:
    """mt's weights under ``MarianMTModel``'s parameter names, permuted to Marian's position layout."""
    if model.cfg.pre_norm:
        raise MTError("format=huggingface needs a post-norm model (model.pre_norm=false): Marian has no "
                      "pre-norm variant; export this checkpoint with format=ctranslate2 instead")
    p = _Permuter(model.cfg.d_model)
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for i, layer in enumerate(model.encoder_layers):
            prefix = f"model.encoder.layers.{i}"
            _attention(out, f"{prefix}.self_attn", layer.self_attn, p)
            _norm(out, f"{prefix}.self_attn_layer_norm", layer.attn_block.norm, p)
            _ffn(out, prefix, layer, p)
        for i, layer in enumerate(model.decoder_layers):
            prefix = f"model.decoder.layers.{i}"
            _attention(out, f"{prefix}.self_attn", layer.self_attn, p)
            _norm(out, f"{prefix}.self_attn_layer_norm", layer.self_block.norm, p)
            _attention(out, f"{prefix}.encoder_attn", layer.cross_attn, p)
            _norm(out, f"{prefix}.encoder_attn_layer_norm", layer.cross_block.norm, p)
            _ffn(out, prefix, layer, p)
        src, tgt = p.reads(model.src_embed.weight), p.reads(model.tgt_embed.weight)  # (V, D)
        out["model.encoder.embed_tokens.weight"], out["model.decoder.embed_tokens.weight"] = src, tgt
        shared, _ = embedding_layout(model)
        if shared:  # MarianModel has a ``shared`` table only when the config says so
            out["model.shared.weight"] = src
        out["lm_head.weight"] = p.reads(model.output_weight)
        bias = model.output_bias
        out["final_logits_bias"] = torch.zeros(1, model.vocab_size) if bias is None else bias[None, :]
    return {k: v.detach().to(torch.float32).cpu() for k, v in out.items()}


def marian_config_kwargs(model: Transformer, tokenizer: Tokenizer) -> dict[str, Any]:
    """``MarianConfig`` arguments that describe ``model`` (dropout as trained, for fine-tuning)."""
    cfg = model.cfg
    shared, tied_output = embedding_layout(model)
    return dict(
        vocab_size=model.src_vocab_size, decoder_vocab_size=model.vocab_size, d_model=cfg.d_model,
        encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers,
        encoder_attention_heads=cfg.n_heads, decoder_attention_heads=cfg.n_heads,
        encoder_ffn_dim=cfg.ffn_dim, decoder_ffn_dim=cfg.ffn_dim, activation_function=cfg.activation,
        max_position_embeddings=cfg.max_positions, scale_embedding=True, dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout, activation_dropout=cfg.activation_dropout,
        pad_token_id=tokenizer.pad_id, eos_token_id=tokenizer.eos_id, bos_token_id=tokenizer.bos_id,
        decoder_start_token_id=tokenizer.bos_id, forced_eos_token_id=tokenizer.eos_id,
        share_encoder_decoder_embeddings=shared, tie_word_embeddings=tied_output,
    )


def export_huggingface(model: Transformer, tokenizer: Tokenizer, info: dict[str, Any], output: Path,
                       *, beam_size: int, card: str) -> None:
    """Write ``output`` (a new directory): config.json, generation_config.json, model.safetensors,
    source.spm/target.spm (each side's SentencePiece model; the joint one twice), vocab.json (and
    target_vocab.json for separate vocabularies), tokenizer_config.json and the model card ``README.md``."""
    transformers = require("transformers", "hf", "format=huggingface")
    require("safetensors", "hf", "format=huggingface")
    state = marian_state_dict(model)
    config = transformers.MarianConfig(**marian_config_kwargs(model, tokenizer))
    if info.get("pairs"):  # a data.pairs model: mt reads its directions back (translate.py tgt_lang=)
        config.mt_pairs = list(info["pairs"])
    marian = transformers.MarianMTModel(config)
    missing, unexpected = marian.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("embed_positions.weight")]  # rebuilt at every load
    if missing or unexpected:
        raise MTError(f"format=huggingface: the exported tensors do not match MarianMTModel's parameters "
                      f"(missing {missing[:4]}, unexpected {unexpected[:4]}); nothing was written")
    marian.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=tokenizer.bos_id, bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.pad_id, forced_eos_token_id=tokenizer.eos_id,
        bad_words_ids=[[tokenizer.pad_id], [tokenizer.bos_id]], num_beams=beam_size,
        max_length=model.cfg.max_positions,
    )
    output.mkdir(parents=True)
    marian.save_pretrained(str(output))
    _save_tokenizer(transformers, tokenizer, info, output, model.cfg.max_positions)
    (output / "README.md").write_text(card, encoding="utf-8")


def _save_tokenizer(transformers: Any, tokenizer: Tokenizer, info: dict[str, Any], output: Path,
                    max_positions: int) -> None:
    """MarianTokenizer's files: each side's SentencePiece model as source.spm and target.spm (the joint
    one twice), and vocab.json mapping every piece to its mt id (Marian looks ids up there, not in the
    .spm); where the two sides' ids name different pieces, vocab.json is the source's and
    target_vocab.json the target's (``separate_vocabs``)."""
    staging = output / ".tokenizer"
    staging.mkdir()
    try:
        (staging / "source.spm").write_bytes(tokenizer.to_bytes())
        (staging / "target.spm").write_bytes(tokenizer.target_bytes() or tokenizer.to_bytes())
        source = {tokenizer.source_piece(i): i for i in range(tokenizer.src_vocab_size)}
        (staging / "vocab.json").write_text(json.dumps(source, ensure_ascii=False), encoding="utf-8")
        separate = {}
        if not tokenizer.shared_vocab:
            target = {tokenizer.id_to_piece(i): i for i in range(tokenizer.vocab_size)}
            (staging / "target_vocab.json").write_text(json.dumps(target, ensure_ascii=False), encoding="utf-8")
            separate = {"separate_vocabs": True, "target_vocab_file": str(staging / "target_vocab.json")}
        marian_tok = transformers.MarianTokenizer(
            source_spm=str(staging / "source.spm"), target_spm=str(staging / "target.spm"), **separate,
            vocab=str(staging / "vocab.json"), source_lang=info["src_lang"], target_lang=info["tgt_lang"],
            unk_token=tokenizer.id_to_piece(tokenizer.unk_id), eos_token=tokenizer.id_to_piece(tokenizer.eos_id),
            pad_token=tokenizer.id_to_piece(tokenizer.pad_id), model_max_length=max_positions - 1,
            clean_up_tokenization_spaces=False,
        )
        marian_tok.save_pretrained(str(output))
    finally:
        shutil.rmtree(staging)


def load_marian(model_dir: str | Path) -> tuple[Any, Any]:
    """``MarianTokenizer`` and eval-mode ``MarianMTModel`` of an exported directory, by plain transformers."""
    transformers = require("transformers", "hf", "loading a Hugging Face export")
    return (transformers.MarianTokenizer.from_pretrained(str(model_dir)),
            transformers.MarianMTModel.from_pretrained(str(model_dir)).eval())


def marian_translate(marian: tuple[Any, Any], lines: list[str], *, beam_size: int = 1,
                     length_penalty: float = 1.0, max_len_a: float = 1.2, max_len_b: int = 10,
                     batch_size: int = 64) -> list[list[int]]:
    """Translate ``lines`` with ``transformers`` alone (``load_marian``'s tokenizer and model,
    ``generate``) under mt's length rule; returns the target ids of each line (no BOS/EOS).

    ``generate`` has one length limit per batch: each batch gets its longest sentence's limit, and
    every output is cut to its own sentence's ``floor(max_len_a * src_len + max_len_b)`` tokens
    (exact for greedy search, whose prefixes do not depend on the limit). Used to check an export.
    """
    from mt.decode.search import max_output_lengths

    tokenizer, model = marian
    special = {model.config.pad_token_id, model.config.eos_token_id, model.config.decoder_start_token_id}
    out: list[list[int]] = []
    for start in range(0, len(lines), batch_size):
        batch = tokenizer(lines[start:start + batch_size], return_tensors="pt", padding=True)
        limits = max_output_lengths(batch["attention_mask"].sum(1), max_len_a, max_len_b,
                                    model.config.max_position_embeddings - 1).tolist()
        with torch.inference_mode():
            generated = model.generate(**batch, num_beams=beam_size, do_sample=False,
                                       length_penalty=length_penalty, early_stopping=True,
                                       max_length=max(limits) + 2)  # start token + limit + EOS
        for row, limit in zip(generated.tolist(), limits, strict=True):
            out.append([t for t in row[1:] if t not in special][:limit])
    return out
