"""A transformers ``MarianMTModel`` directory (``save_pretrained``'s layout) as mt model weights.

The inverse of ``mt.export.hf``: Marian's post-norm Transformer is mt's, up to the names of the
weights, the fused attention projections, and the layout of the sinusoidal position table (Marian:
all sines, then all cosines; mt: interleaved). The import permutes the d_model coordinates back, so
the imported network computes what Marian's does. What mt cannot express is refused with the key
that says so (unscaled embeddings, different encoder and decoder widths, shared source/target
tables with an untied output layer). A model with ``separate_vocabs`` (a target vocabulary of its
own) becomes an mt model with separate vocabularies: its own source embedding, and the target
embedding tied to the output layer where Marian ties them.

Only ``config.json`` and the weights are read here (``model.safetensors`` or ``pytorch_model.bin``);
neither transformers nor the model's code is needed. The subword files are ``mt.data.marian_vocab``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mt.utils.errors import MTError

ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "swish": "swish", "silu": "swish"}
"""Marian's ``activation_function`` -> ``model.activation``."""


def interleaved_to_halves(d_model: int) -> Tensor:
    """The permutation ``perm`` with ``marian[..., j] = mt[..., perm[j]]``: even dims (sines) first,
    then odd dims (cosines). The export applies it, the import its inverse."""
    return torch.cat([torch.arange(0, d_model, 2), torch.arange(1, d_model, 2)])


class MarianImportError(MTError):
    """A Marian directory that mt cannot read or represent."""


def read_config(model_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MarianImportError(f"{model_dir / 'config.json'}: not a readable model config ({e})") from None


def model_config(config: dict[str, Any], where: Path, separate: bool = False) -> dict[str, Any]:
    """``ModelConfig`` fields for a Marian ``config.json`` (as a dict), or an error naming the key.
    ``separate``: the tokenizer has a target vocabulary of its own (``separate_vocabs``)."""
    def need(ok: bool, why: str) -> None:
        if not ok:
            raise MarianImportError(f"{where}: {why}; mt cannot represent this model")

    need(config.get("model_type") == "marian", f"model_type is {config.get('model_type')!r}, not 'marian'")
    for a, b in (("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")):
        need(config[a] == config[b], f"{a}={config[a]} differs from {b}={config[b]}")
    need(config.get("scale_embedding", False), "scale_embedding is false (mt scales embeddings by sqrt(d_model))")
    decoder_vocab = config.get("decoder_vocab_size") or config["vocab_size"]
    need(separate or decoder_vocab == config["vocab_size"],
         f"decoder_vocab_size={decoder_vocab} differs from vocab_size, and the tokenizer has one vocabulary")
    activation = ACTIVATIONS.get(config.get("activation_function", "gelu"))
    need(activation is not None, f"activation_function={config.get('activation_function')!r} is not one of "
                                 f"{', '.join(ACTIVATIONS)}")
    shared = config.get("share_encoder_decoder_embeddings", True)
    tied = config.get("tie_word_embeddings", True)
    if separate:
        need(not shared, "share_encoder_decoder_embeddings is true, but the tokenizer has separate_vocabs")
    else:
        need(shared == tied, f"share_encoder_decoder_embeddings={shared} with tie_word_embeddings={tied} "
                             f"over one vocabulary")
    return {"encoder_layers": config["encoder_layers"], "decoder_layers": config["decoder_layers"],
            "d_model": config["d_model"], "n_heads": config["encoder_attention_heads"],
            "ffn_dim": config["encoder_ffn_dim"], "dropout": config.get("dropout", 0.1),
            "attention_dropout": config.get("attention_dropout", 0.0),
            "activation_dropout": config.get("activation_dropout", 0.0), "activation": activation,
            "pre_norm": False, "tie_embeddings": bool(tied), "output_bias": False,
            "max_positions": config["max_position_embeddings"]}


def read_weights(model_dir: Path) -> dict[str, Tensor]:
    """The tensors of ``model.safetensors`` (or ``pytorch_model.bin``), by name."""
    if (model_dir / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(model_dir / "model.safetensors"))
    if (model_dir / "pytorch_model.bin").is_file():
        return torch.load(model_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise MarianImportError(f"{model_dir}: no model.safetensors or pytorch_model.bin")


def _first(weights: dict[str, Tensor], names: tuple[str, ...], where: Path) -> Tensor:
    """The first of ``names`` present (save_pretrained writes one tensor of each tied group)."""
    for name in names:
        if name in weights:
            return weights[name]
    raise MarianImportError(f"{where}: none of {', '.join(names)} in the weights")


def mt_state_dict(weights: dict[str, Tensor], cfg: dict[str, Any], where: Path,
                  separate: bool = False) -> dict[str, Tensor]:
    """Marian's tensors under mt's names, the d_model coordinates back in mt's interleaved order;
    ``separate``: source and target have vocabularies (and embedding tables) of their own."""
    d_model = cfg["d_model"]
    inv = torch.argsort(interleaved_to_halves(d_model))

    def get(name: str) -> Tensor:
        if name not in weights:
            raise MarianImportError(f"{where}: the weights have no {name}")
        return weights[name].float()

    def reads(name: str) -> Tensor:  # (out, D) weights fed by the residual stream
        return get(name)[:, inv]

    def writes(name: str) -> Tensor:  # (D, ...) tensors added to it
        return get(name)[inv]

    out: dict[str, Tensor] = {}

    def linear(dst: str, src: str, *, into_stream: bool) -> None:
        out[f"{dst}.weight"] = writes(f"{src}.weight") if into_stream else reads(f"{src}.weight")
        out[f"{dst}.bias"] = writes(f"{src}.bias") if into_stream else get(f"{src}.bias")

    def attention(dst: str, src: str, *, cross: bool) -> None:
        names = ("q_proj", "k_proj", "v_proj")
        w = [reads(f"{src}.{n}.weight") for n in names]
        b = [get(f"{src}.{n}.bias") for n in names]
        if cross:
            out[f"{dst}.q_proj.weight"], out[f"{dst}.q_proj.bias"] = w[0], b[0]
            out[f"{dst}.kv_proj.weight"], out[f"{dst}.kv_proj.bias"] = torch.cat(w[1:]), torch.cat(b[1:])
        else:
            out[f"{dst}.qkv_proj.weight"], out[f"{dst}.qkv_proj.bias"] = torch.cat(w), torch.cat(b)
        linear(f"{dst}.out_proj", f"{src}.out_proj", into_stream=True)

    def norm(dst: str, src: str) -> None:
        out[f"{dst}.weight"], out[f"{dst}.bias"] = writes(f"{src}.weight"), writes(f"{src}.bias")

    def ffn(dst: str, src: str, norm_dst: str) -> None:
        linear(f"{dst}.ffn.fc1", f"{src}.fc1", into_stream=False)
        linear(f"{dst}.ffn.fc2", f"{src}.fc2", into_stream=True)
        norm(f"{dst}.{norm_dst}.norm", f"{src}.final_layer_norm")

    for i in range(cfg["encoder_layers"]):
        dst, src = f"encoder_layers.{i}", f"model.encoder.layers.{i}"
        attention(f"{dst}.self_attn", f"{src}.self_attn", cross=False)
        norm(f"{dst}.attn_block.norm", f"{src}.self_attn_layer_norm")
        ffn(dst, src, "ffn_block")
    for i in range(cfg["decoder_layers"]):
        dst, src = f"decoder_layers.{i}", f"model.decoder.layers.{i}"
        attention(f"{dst}.self_attn", f"{src}.self_attn", cross=False)
        norm(f"{dst}.self_block.norm", f"{src}.self_attn_layer_norm")
        attention(f"{dst}.cross_attn", f"{src}.encoder_attn", cross=True)
        norm(f"{dst}.cross_block.norm", f"{src}.encoder_attn_layer_norm")
        ffn(dst, src, "ffn_block")
    source = _first(weights, ("model.shared.weight", "model.encoder.embed_tokens.weight"), where)
    out["src_embed.weight"] = out["tgt_embed.weight"] = source.float()[:, inv]  # one table when tied
    if separate or not cfg["tie_embeddings"]:  # save_pretrained keeps one name of a tied pair
        target = _first(weights, ("model.decoder.embed_tokens.weight", "lm_head.weight"), where)
        out["tgt_embed.weight"] = target.float()[:, inv]
    if not cfg["tie_embeddings"]:
        out["output_proj.weight"] = reads("lm_head.weight")
    bias = weights.get("final_logits_bias")
    if bias is not None and bool(bias.ne(0).any()):
        cfg["output_bias"] = True
        out["output_bias"] = bias.float().reshape(-1)
    return out


def import_marian(model_dir: str | Path, separate: bool = False) -> dict[str, Any]:
    """An mt inference checkpoint's ``model``, ``model_config``, ``vocab`` and ``pairs`` entries for a Marian
    directory (the tokenizer comes from ``mt.data.marian_vocab``, which also says whether it is
    ``separate``: a target vocabulary of its own). ``vocab.bos_id`` is Marian's
    ``decoder_start_token_id`` (its pad id, for OPUS-MT)."""
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    cfg = model_config(config, model_dir / "config.json", separate)
    state = mt_state_dict(read_weights(model_dir), cfg, model_dir, separate)
    try:
        pieces = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MarianImportError(f"{model_dir / 'vocab.json'}: not readable ({e})") from None
    pad = config["pad_token_id"]
    vocab = {"size": config.get("decoder_vocab_size") or config["vocab_size"], "pad_id": pad,
             "eos_id": config["eos_token_id"], "unk_id": pieces.get("<unk>", 1),
             "bos_id": config.get("decoder_start_token_id", pad)}
    if separate:
        vocab["src_size"] = config["vocab_size"]
    # mt's own multilingual exports record their directions (mt.export.hf); others have none
    return {"model": state, "model_config": cfg, "vocab": vocab, "pairs": list(config.get("mt_pairs") or [])}
