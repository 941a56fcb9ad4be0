"""The Transformer: shapes, causality, padding invariance, cached == uncached decoding."""

import pytest
import torch
import torch.nn.functional as F

from mt.config import ModelConfig
from mt.model import VocabInfo, build_model
from mt.model.cpu_paths import CPUDropout, cpu_dropout_mask, cpu_training_attention, explicit_attention
from mt.model.transformer import Transformer, fused_attention, sinusoidal_positions

PAD = 0


def tiny(pre_norm: bool = False, tie: bool = True, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(encoder_layers=2, decoder_layers=2, d_model=32, n_heads=4, ffn_dim=64, dropout=0.0,
                      pre_norm=pre_norm, tie_embeddings=tie, max_positions=64)
    return Transformer(cfg, vocab_size=40, pad_id=PAD).eval()


def batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 40, (3, 9), generator=g)
    src[1, 6:] = PAD  # a padded source
    tgt = torch.randint(4, 40, (3, 7), generator=g)
    return src, tgt


def test_shapes_and_tied_embeddings():
    model = tiny()
    src, tgt = batch()
    assert model(src, tgt).shape == (3, 7, 40)
    assert model.src_embed is model.tgt_embed
    assert torch.equal(model.src_embed.weight[PAD], torch.zeros(32))
    untied = tiny(tie=False)
    assert untied.src_embed is not untied.tgt_embed and untied.output_proj is not None


@pytest.mark.parametrize("pre_norm", [False, True])
def test_decoder_is_causal(pre_norm):
    """The output at position t must not change when tokens after t change."""
    model = tiny(pre_norm)
    src, tgt = batch()
    changed = tgt.clone()
    changed[:, 4:] = torch.randint(4, 40, (3, 3))
    a, b = model(src, tgt), model(src, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_source_padding_is_ignored():
    """Extra padding on the source changes nothing for the real tokens."""
    model = tiny()
    src, tgt = batch()
    padded = torch.cat([src, torch.full((3, 5), PAD)], dim=1)
    assert torch.allclose(model(src, tgt), model(padded, tgt), atol=1e-5)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_cached_decoding_equals_uncached(pre_norm):
    model = tiny(pre_norm)
    src, tgt = batch()
    with torch.no_grad():
        full = model(src, tgt)
        enc = model.encode(src)
        cache = model.new_cache(enc)
        steps = torch.cat([model.decode(tgt[:, t:t + 1], enc, cache) for t in range(tgt.size(1))], dim=1)
    assert cache.length == tgt.size(1)
    assert torch.allclose(full, steps, atol=1e-5)


def test_cache_reorder_selects_rows():
    model = tiny()
    src, tgt = batch()
    with torch.no_grad():
        enc = model.encode(src)
        cache = model.new_cache(enc)
        model.decode(tgt[:, :1], enc, cache)
        cache.reorder(torch.tensor([2, 0]), source_too=True)
        enc_sel = type(enc)(enc.out[[2, 0]], enc.src_mask[[2, 0]])
        out = model.decode(tgt[[2, 0], 1:2], enc_sel, cache)
        ref = model(src[[2, 0]], tgt[[2, 0], :2])[:, 1:2]
    assert torch.allclose(out, ref, atol=1e-5)


def test_sinusoidal_positions_hand_values():
    table = sinusoidal_positions(4, 4)
    # position 1: sin(1), cos(1), sin(1/100), cos(1/100)
    expected = torch.tensor([0.841471, 0.540302, 0.0099998, 0.99995])
    assert torch.allclose(table[1], expected, atol=1e-5)
    assert torch.equal(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))


def test_too_long_input_is_a_clear_error():
    model = tiny()
    with pytest.raises(ValueError, match="max_positions"):
        model.encode(torch.ones(1, 65, dtype=torch.long))


def test_bf16_autocast_forward_runs_on_cpu():
    model = tiny()
    src, tgt = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(src, tgt)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_cpu_dropout_mask_has_the_rate_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    mask = cpu_dropout_mask(torch.Size([1000, 1001]), p, torch.float32)  # not a multiple of 4: part of a draw left over
    drop = round(p * 65536) / 65536
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / (1 - drop))]
    assert (mask == 0).float().mean().item() == pytest.approx(p, abs=2e-3)
    assert mask.mean().item() == pytest.approx(1.0, abs=3e-3)
    assert mask.dtype == torch.float32 and mask.shape == (1000, 1001)
    assert cpu_dropout_mask(torch.Size([3]), 1.0 - 1e-7, torch.bfloat16).eq(0).all()


def test_cpu_dropout_is_reproducible_and_gradient_uses_the_same_mask():
    layer = CPUDropout(0.1).train()
    x = torch.randn(64, 32, requires_grad=True)
    torch.manual_seed(3)
    y = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), y)
    y.sum().backward()
    dropped = y.detach() == 0
    assert torch.equal(x.grad == 0, dropped)  # d(x * m)/dx = m: the same mask
    assert torch.allclose(x.grad[~dropped], torch.tensor(65536 / (65536 - 6554)))
    assert torch.equal(layer.eval()(x), x)


@pytest.mark.parametrize(("causal", "padded", "queries"), [(False, True, 5), (True, False, 5), (True, False, 3),
                                                           (False, False, 1)])
def test_explicit_attention_equals_sdpa_with_gradients(causal, padded, queries):
    """CPU training attends with plain products: the same outputs and gradients as the fused kernel,
    for padding masks, causal masks (top-left, as is_causal, also with fewer queries than keys)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64, requires_grad=True)
               for n in (queries, 5, 5))
    mask = None
    if padded:
        mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
        mask[1, ..., 3:] = False
    grad = torch.randn(2, 3, queries, 8, generator=g, dtype=torch.float64)
    ours = explicit_attention(q, k, v, mask, causal, 0.0)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert torch.allclose(ours, theirs, atol=1e-12)
    grads = torch.autograd.grad(ours, (q, k, v), grad)
    for a, b in zip(grads, torch.autograd.grad(theirs, (q, k, v), grad), strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_training_and_inference_attention_paths_agree():
    """With grad on (training, explicit products) and off (inference, fused kernel), the model gives
    the same logits for a padded batch."""
    model = tiny()
    src, tgt = batch()
    with torch.no_grad():
        fused = model(src, tgt)
    assert torch.allclose(model(src, tgt), fused, atol=1e-5)


def test_attention_dropout_drops_attention_weights():
    """attention_dropout masks the softmax weights (with mt's CPU mask), as the fused kernel's dropout_p."""
    q, k, v = (torch.randn(2, 2, 6, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    torch.manual_seed(1)
    dropped = explicit_attention(q, k, v, None, False, 0.5)
    torch.manual_seed(1)
    mask = cpu_dropout_mask(torch.Size([2, 2, 6, 6]), 0.5, torch.float32)
    expected = (torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, dim=-1) * mask) @ v
    assert torch.allclose(dropped, expected, atol=1e-6)
    assert not torch.allclose(dropped, explicit_attention(q, k, v, None, False, 0.0))


def test_vocab_info_round_trips_the_checkpoint_entry():
    entry = {"size": 40, "pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}  # as checkpoints store it
    vocab = VocabInfo.from_dict(entry)
    assert vocab == VocabInfo(size=40, pad_id=0, bos_id=2, eos_id=3, unk_id=1)
    assert vocab.as_dict() == entry and list(vocab.as_dict()) == list(entry)
    with pytest.raises(KeyError):
        VocabInfo.from_dict({"size": 40, "pad_id": 0})


def test_build_model_is_the_constructor_with_the_vocabulary_integers():
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=32, n_heads=4, ffn_dim=64, max_positions=64)
    torch.manual_seed(0)
    built = build_model(cfg, VocabInfo(size=40, pad_id=PAD, bos_id=2, eos_id=3, unk_id=1))
    torch.manual_seed(0)
    direct = Transformer(cfg, vocab_size=40, pad_id=PAD)
    assert built.vocab_size == 40 and built.pad_id == PAD
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), direct.state_dict().values(), strict=True))


def test_cpu_training_kernels_are_chosen_when_the_model_is_built():
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=16, n_heads=2, ffn_dim=32)
    plain, cpu = Transformer(cfg, 20, PAD), Transformer(cfg, 20, PAD, cpu_training=True)
    attentions = [m.attend for m in cpu.modules() if hasattr(m, "attend")]
    assert len(attentions) == 3 and set(attentions) == {cpu_training_attention}
    assert {m.attend for m in plain.modules() if hasattr(m, "attend")} == {fused_attention}
    dropouts = [type(m) for m in cpu.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and set(dropouts) == {CPUDropout}
    assert {type(m) for m in plain.modules() if isinstance(m, torch.nn.Dropout)} == {torch.nn.Dropout}
    assert plain.state_dict().keys() == cpu.state_dict().keys()
