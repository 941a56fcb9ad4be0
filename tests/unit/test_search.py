"""Beam and greedy search: hand-derived cases on a scripted model, and invariants on random models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mt.config import DecodeConfig, ModelConfig
from mt.decode.search import (
    SEARCH,
    BeamSearch,
    GreedySearch,
    ban_repeated_ngrams,
    beam_search,
    constrain_log_probs,
    gnmt_length_penalty,
    greedy_search,
    max_output_lengths,
    normalized_score,
    search_for,
)
from mt.model.transformer import EncoderOut, KVCache, Transformer

PAD, UNK, BOS, EOS = 0, 1, 2, 3
A, B, C = 4, 5, 6
IDS = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD)


class MarkovModel(nn.Module):
    """A scripted 'translation model': the next-token distribution depends only on the previous
    token (``table[prev] = {token: prob}``; rows not given end at once: EOS with probability 1).
    It speaks the Transformer's decoding interface, so hand-derived searches can be checked."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int = 8, max_positions: int = 64):
        super().__init__()
        self.cfg = ModelConfig(max_positions=max_positions)
        log_probs = torch.full((vocab, vocab), -math.inf)
        log_probs[:, EOS] = 0.0
        for prev, row in table.items():
            log_probs[prev] = -math.inf
            for token, p in row.items():
                log_probs[prev, token] = math.log(p)
        self.register_buffer("log_probs", log_probs)  # (V, V)

    def encode(self, src_tokens: torch.Tensor) -> EncoderOut:
        return EncoderOut(torch.zeros(src_tokens.size(0), 1, 1), (src_tokens != PAD)[:, None, None, :])

    def new_cache(self, enc: EncoderOut) -> KVCache:
        return KVCache([], enc.src_mask)

    def decode(self, tgt_in: torch.Tensor, enc: EncoderOut, cache: KVCache | None = None) -> torch.Tensor:
        if cache is not None:
            cache.length += tgt_in.size(1)
        return self.log_probs[tgt_in]  # (B, T, V)


# From BOS: end at once (0.4) or say "a" (0.6); after "a": end (0.6) or "b" (0.4); after "b": end
# (0.7) or "c" (0.3); after "c": end.
SHORT_OR_LONG = {BOS: {EOS: 0.4, A: 0.6}, A: {EOS: 0.6, B: 0.4}, B: {EOS: 0.7, C: 0.3}}


class BiasedTransformer(Transformer):
    """A random Transformer with fixed logit offsets, e.g. to make EOS likely (varied lengths)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, bias: dict[int, float]):
        super().__init__(cfg, vocab_size, pad_id=PAD)
        self.bias = bias

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = super().project(hidden)
        for token, value in self.bias.items():
            logits[..., token] += value
        return logits


def random_model(seed: int, eos_bias: float = 1.0, vocab: int = 48) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(encoder_layers=2, decoder_layers=2, d_model=32, n_heads=4, ffn_dim=64, dropout=0.0,
                      max_positions=64)
    return BiasedTransformer(cfg, vocab, {EOS: eos_bias}).eval()


def random_source(seed: int, lengths: list[int], vocab: int = 48) -> torch.Tensor:
    """(batch, max_len) source ids, EOS-terminated, right-padded: ``lengths`` include the EOS."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths)), PAD)
    for row, n in enumerate(lengths):
        src[row, : n - 1] = torch.randint(4, vocab, (n - 1,), generator=g)
        src[row, n - 1] = EOS
    return src


def tokens_of(results):
    return [[h.tokens for h in hyps] for hyps in results]


# ----------------------------------------------------------------------------- pure helpers


def test_length_penalty_by_hand():
    assert gnmt_length_penalty(1, 1.0) == 1.0  # (5 + 1) / 6
    assert gnmt_length_penalty(7, 1.0) == 2.0  # (5 + 7) / 6
    assert gnmt_length_penalty(19, 0.5) == pytest.approx(2.0)  # sqrt(24 / 6)
    assert gnmt_length_penalty(40, 0.0) == 1.0
    assert normalized_score(-3.0, 7, 1.0) == -1.5


def test_max_output_lengths():
    lengths = max_output_lengths(torch.tensor([1, 5, 10, 30]), 1.2, 10, limit=20)
    assert lengths.tolist() == [11, 16, 20, 20]  # floor(11.2), floor(16.0), 22 and 46 capped
    assert max_output_lengths(torch.tensor([4]), 0.0, 0, limit=20).tolist() == [0]


def test_constrain_log_probs_by_hand():
    uniform = -2.0  # exact in float32
    log_probs = torch.full((2, 1, 6), uniform)  # (N=2, K=1, V=6)
    out = constrain_log_probs(log_probs.clone(), 0, torch.tensor([False, True]), min_len=1, **IDS)
    # Sentence 0: PAD, BOS and (before min_len) EOS are impossible, the rest untouched.
    assert out[0, 0].tolist() == [-math.inf, uniform, -math.inf, -math.inf, uniform, uniform]
    # Sentence 1 is at its length limit: EOS only, with the model's own log-prob, despite min_len.
    assert out[1, 0].tolist() == [-math.inf, -math.inf, -math.inf, uniform, -math.inf, -math.inf]
    later = constrain_log_probs(log_probs.clone(), 1, torch.tensor([False, False]), min_len=1, **IDS)
    assert later[0, 0, EOS] == uniform


# ----------------------------------------------------------------------------- hand-derived searches


def test_ban_repeated_ngrams_by_hand():
    prefixes = torch.tensor([[A, B, A, B, C, A],   # bigram (A, x): A was followed by B -> ban B
                             [C, C, C, C, C, C]])  # a loop: (C, C) was followed by C -> ban C
    out = ban_repeated_ngrams(torch.zeros(2, 8), prefixes, n=2)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [B]
    assert torch.isinf(out[1]).nonzero().flatten().tolist() == [C]
    out = ban_repeated_ngrams(torch.zeros(2, 8), prefixes, n=3)  # contexts (C, A) and (C, C)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == []
    assert torch.isinf(out[1]).nonzero().flatten().tolist() == [C]
    assert not torch.isinf(ban_repeated_ngrams(torch.zeros(2, 8), prefixes, n=0)).any()
    assert not torch.isinf(ban_repeated_ngrams(torch.zeros(2, 8), prefixes[:, :2], n=3)).any()  # too short


def test_no_repeat_ngram_stops_a_character_loop():
    """A model that loops on C (the way an undertrained decoder spells 'nnnnnnn'): without the guard
    greedy search loops to the length limit; with trigrams banned, after C C C the next best (A) wins,
    and no beam hypothesis holds a trigram twice."""
    looping = MarkovModel({BOS: {C: 1.0}, C: {C: 0.9, A: 0.06, EOS: 0.04}, A: {EOS: 1.0}})
    src = torch.tensor([[A, A, A, EOS]])
    limits = dict(max_len_a=1.0, max_len_b=4, **IDS)
    assert greedy_search([looping], src, **limits)[0][0].tokens == [C] * 8
    assert greedy_search([looping], src, no_repeat_ngram_size=3, **limits)[0][0].tokens == [C, C, C, A]
    for hyp in beam_search([looping], src, beam_size=4, nbest=4, no_repeat_ngram_size=3, **limits)[0]:
        grams = [tuple(hyp.tokens[i:i + 3]) for i in range(len(hyp.tokens) - 2)]
        assert len(grams) == len(set(grams)), hyp.tokens


def test_length_penalty_decides_between_short_and_long():
    """Finished: [] with log 0.4 (length 1) and [a] with 2 log 0.6 (length 2, with EOS).
    alpha=0 ranks by log-prob: -0.916 > -1.022, so [] wins; alpha=1 divides by 1 and 7/6:
    -0.916 < -1.022 / (7/6) = -0.876, so [a] wins."""
    model, src = MarkovModel(SHORT_OR_LONG), torch.tensor([[A, EOS]])
    common = dict(beam_size=2, nbest=2, min_len=0, **IDS)
    raw = beam_search([model], src, length_penalty=0.0, **common)[0]
    assert [h.tokens for h in raw] == [[], [A]]
    assert [h.log_prob for h in raw] == pytest.approx([math.log(0.4), 2 * math.log(0.6)])
    assert [h.score for h in raw] == pytest.approx([math.log(0.4), 2 * math.log(0.6)])
    gnmt = beam_search([model], src, length_penalty=1.0, **common)[0]
    assert [h.tokens for h in gnmt] == [[A], []]
    assert [h.score for h in gnmt] == pytest.approx([2 * math.log(0.6) / (7 / 6), math.log(0.4)])


def test_min_len_forbids_early_eos():
    """min_len=2 rules out [] and [a]; finished are [a b] (0.6*0.4*0.7, length 3) and [a b c]
    (0.6*0.4*0.3*1, length 4); with alpha=1 the shorter one wins."""
    hyps = beam_search([MarkovModel(SHORT_OR_LONG)], torch.tensor([[A, EOS]]), beam_size=2, nbest=2,
                       min_len=2, **IDS)[0]
    assert [h.tokens for h in hyps] == [[A, B], [A, B, C]]
    assert hyps[0].log_prob == pytest.approx(math.log(0.6 * 0.4 * 0.7))
    assert hyps[0].score == pytest.approx(math.log(0.6 * 0.4 * 0.7) / (8 / 6))
    assert hyps[1].score == pytest.approx(math.log(0.6 * 0.4 * 0.3) / (9 / 6))
    greedy = greedy_search([MarkovModel(SHORT_OR_LONG)], torch.tensor([[A, EOS]]), min_len=2, **IDS)[0]
    assert greedy[0].tokens == [A, B]


def test_max_len_forces_eos_per_sentence():
    """A model that (almost) never stops runs into each sentence's own limit floor(1.0 * src_len + 2)."""
    chatty = MarkovModel({BOS: {A: 1.0}, A: {A: 0.59, B: 0.4, EOS: 0.01}, B: {A: 0.59, B: 0.4, EOS: 0.01}})
    src = torch.tensor([[A, A, EOS, PAD, PAD, PAD], [A, A, A, A, A, EOS]])  # src_len 3 and 6
    # With beam 2 the 0.01 EOS never ranks among the best 2 extensions, so only the limit ends.
    for search in (beam_search, greedy_search):
        extra = dict(beam_size=2, nbest=2) if search is beam_search else {}
        results = search([chatty], src, max_len_a=1.0, max_len_b=2, **extra, **IDS)
        assert {len(h.tokens) for h in results[0]} == {5}
        assert {len(h.tokens) for h in results[1]} == {8}
    # The limit wins over min_len: at length 1 EOS is forced, with the model's probability (0.01).
    hyps = beam_search([chatty], src[:1], beam_size=2, max_len_a=0.0, max_len_b=1, min_len=5, **IDS)[0]
    assert hyps[0].tokens == [A] and hyps[0].log_prob == pytest.approx(math.log(0.01))


def test_max_len_is_capped_by_the_position_table():
    """Decoder inputs are BOS + generated tokens, so at most max_positions - 1 tokens fit."""
    chatty = MarkovModel({BOS: {A: 1.0}, A: {A: 0.59, B: 0.4, EOS: 0.01}, B: {A: 0.59, B: 0.4, EOS: 0.01}},
                         max_positions=8)
    hyps = beam_search([chatty], torch.tensor([[A, EOS]]), beam_size=2, max_len_b=100, **IDS)[0]
    assert len(hyps[0].tokens) == 7
    torch.manual_seed(0)
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=16, n_heads=2, ffn_dim=32, max_positions=8)
    model = BiasedTransformer(cfg, 24, {EOS: -20.0}).eval()  # never ends on its own
    for use_cache in (True, False):
        hyps = beam_search([model], random_source(0, [3, 7], vocab=24), beam_size=2, max_len_b=100,
                           use_cache=use_cache, **IDS)
        assert [len(h[0].tokens) for h in hyps] == [7, 7]


def test_ensemble_averages_probabilities():
    """Model 1 says a: 0.9, EOS: 0.1; model 2 says a: 0.3, EOS: 0.7; the ensemble: a 0.6, EOS 0.4.
    After "a" both end. Greedy picks [a] with log 0.6 (log-space averaging would give -0.655)."""
    one = MarkovModel({BOS: {A: 0.9, EOS: 0.1}})
    two = MarkovModel({BOS: {A: 0.3, EOS: 0.7}})
    src = torch.tensor([[A, EOS]])
    hyp = greedy_search([one, two], src, min_len=0, **IDS)[0][0]
    assert hyp.tokens == [A] and hyp.log_prob == pytest.approx(math.log(0.6))
    assert greedy_search([two], src, min_len=0, **IDS)[0][0].tokens == []
    beam = beam_search([one, two], src, beam_size=2, nbest=2, min_len=0, length_penalty=0.0, **IDS)[0]
    assert [h.log_prob for h in beam] == pytest.approx([math.log(0.6), math.log(0.4)])


# ----------------------------------------------------------------------------- random models


@pytest.mark.parametrize("seed", [1, 3, 4])  # seeds whose hypotheses end both by EOS and by max length
@pytest.mark.parametrize("beam_size", [1, 4])
def test_cached_equals_uncached(seed, beam_size):
    model = random_model(seed)
    src = random_source(seed, [7, 3, 9, 5, 2, 9])  # padded rows; sentences finish at different steps
    common = dict(beam_size=beam_size, nbest=beam_size, max_len_a=1.0, max_len_b=4, **IDS)
    cached = beam_search([model], src, use_cache=True, **common)
    uncached = beam_search([model], src, use_cache=False, **common)
    assert tokens_of(cached) == tokens_of(uncached)
    lengths = {len(h.tokens) for hyps in cached for h in hyps}
    assert len(lengths) > 2, "the test needs hypotheses of varied lengths"
    for c, u in zip(cached, uncached, strict=True):
        assert len(c) == beam_size
        assert [h.score for h in c] == pytest.approx([h.score for h in u], abs=1e-4)
        assert [h.log_prob for h in c] == pytest.approx([h.log_prob for h in u], abs=1e-4)


@pytest.mark.parametrize("seed", [3, 4])
def test_beam_one_equals_greedy(seed):
    model = random_model(seed)
    src = random_source(seed, [6, 9, 2, 4])
    beam = beam_search([model], src, beam_size=1, **IDS)
    for use_cache in (True, False):
        greedy = greedy_search([model], src, use_cache=use_cache, **IDS)
        assert tokens_of(greedy) == tokens_of(beam)
        assert [g[0].score for g in greedy] == pytest.approx([b[0].score for b in beam], abs=1e-4)


def test_batch_equals_one_sentence_at_a_time():
    """Padding and dropping finished sentences must not change any sentence's result."""
    model = random_model(5)
    lengths = [8, 2, 5, 8, 3]
    src = random_source(5, lengths)
    batched = beam_search([model], src, beam_size=3, nbest=2, **IDS)
    for row, n in enumerate(lengths):
        alone = beam_search([model], src[row : row + 1, :n], beam_size=3, nbest=2, **IDS)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[row]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batched[row]], abs=1e-4)


def test_nbest_is_sorted_distinct_and_well_formed():
    model = random_model(6)
    results = beam_search([model], random_source(6, [5, 9, 4]), beam_size=5, nbest=3, max_len_b=6, **IDS)
    for hyps in results:
        assert len(hyps) == 3
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 3
        for h in hyps:
            assert EOS not in h.tokens and BOS not in h.tokens and PAD not in h.tokens
            assert h.score == pytest.approx(normalized_score(h.log_prob, len(h.tokens) + 1, 1.0))


def test_self_ensemble_equals_single_model():
    model = random_model(7)
    src = random_source(7, [4, 7, 6])
    alone = beam_search([model], src, beam_size=4, nbest=4, **IDS)
    pair = beam_search([model, model], src, beam_size=4, nbest=4, **IDS)
    assert tokens_of(pair) == tokens_of(alone)
    assert [h.score for hs in pair for h in hs] == pytest.approx([h.score for hs in alone for h in hs], abs=1e-4)


def test_pad_and_bos_are_never_generated_unk_is():
    torch.manual_seed(8)
    cfg = ModelConfig(encoder_layers=1, decoder_layers=1, d_model=16, n_heads=2, ffn_dim=32, dropout=0.0)
    model = BiasedTransformer(cfg, 24, {PAD: 50.0, BOS: 50.0, UNK: 20.0}).eval()
    for search, extra in ((beam_search, {"beam_size": 3}), (greedy_search, {})):
        hyps = search([model], random_source(8, [5, 3], vocab=24), max_len_b=3, **extra, **IDS)
        for h in (h for hs in hyps for h in hs):
            assert PAD not in h.tokens and BOS not in h.tokens
        assert UNK in hyps[0][0].tokens


# ----------------------------------------------------------------------------- the strategy registry


def test_the_registry_keeps_todays_rule():
    assert set(SEARCH) == {"greedy", "beam", "sample"}
    assert search_for(DecodeConfig(beam_size=1)) is SEARCH["greedy"]
    assert search_for(DecodeConfig(beam_size=4)) is SEARCH["beam"]
    assert search_for(DecodeConfig(beam_size=4, sampling=True)) is SEARCH["sample"]
    assert SEARCH["greedy"].limit_independent and not SEARCH["beam"].limit_independent
    assert SEARCH["sample"].limit_independent


def test_sampling_from_the_top_one_is_greedy_and_a_seed_repeats_a_draw():
    model = random_model(4)
    src = random_source(4, [6, 9, 2, 4])
    ids = dict(bos_id=2, eos_id=3, pad_id=0)
    greedy = SEARCH["greedy"]([model], src, DecodeConfig(beam_size=1), **ids)
    top1 = SEARCH["sample"]([model], src, DecodeConfig(sampling=True, sampling_topk=1), **ids)
    assert [h[0].tokens for h in top1] == [h[0].tokens for h in greedy]
    hot = DecodeConfig(sampling=True, sampling_temperature=5.0, max_len_a=0, max_len_b=12)
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append([h[0].tokens for h in SEARCH["sample"]([model], src, hot, **ids)])
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert draws[0] != [h[0].tokens for h in greedy]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_strategies_pass_the_config_and_ids_through(beam_size):
    model = random_model(4)
    src = random_source(4, [6, 9, 2, 4])
    cfg = DecodeConfig(beam_size=beam_size, nbest=beam_size, max_len_a=1.0, max_len_b=3, min_len=2,
                       length_penalty=0.6, no_repeat_ngram_size=2)
    rules = dict(max_len_a=1.0, max_len_b=3, min_len=2, length_penalty=0.6, no_repeat_ngram_size=2, **IDS)
    direct = (greedy_search([model], src, **rules) if beam_size == 1
              else beam_search([model], src, beam_size=beam_size, nbest=beam_size, **rules))
    for strategy in (search_for(cfg), type(search_for(cfg))(use_cache=False)):
        found = strategy([model], src, cfg, **IDS)
        assert tokens_of(found) == tokens_of(direct)
        assert [h.score for hyps in found for h in hyps] == pytest.approx(
            [h.score for hyps in direct for h in hyps], abs=1e-4)
    assert isinstance(search_for(cfg), GreedySearch if beam_size == 1 else BeamSearch)
