"""Batched beam search (and greedy search) over one model or an ensemble, with incremental decoding.

Rows of every decoder tensor are sentences x beams, flattened sentence-major: row ``s * K + j`` is
beam ``j`` of active sentence ``s``. Each step

1. every model scores the next token of every row (cached: only the newest token is fed; the
   self-attention keys/values of earlier steps live in the model's ``KVCache``);
2. ensembles average the models' probabilities: ``logsumexp(log_probs) - log(n_models)``;
3. PAD and BOS are never generated, EOS not before ``min_len`` tokens, and at a sentence's maximum
   length EOS is the only choice; optionally (``no_repeat_ngram_size``) no n-gram twice in a hypothesis;
4. the best ``2K`` (beam, token) extensions of each sentence are taken; EOS extensions among the
   best ``K`` become finished hypotheses, and the best ``K`` non-EOS extensions form the next beam;
5. a sentence is done once it has ``K`` finished hypotheses (early stopping) or reached its maximum
   length; done sentences leave the batch, so later steps only pay for the sentences still going.

Hypotheses are ranked by the GNMT length-normalised score (Wu et al. 2016, eq. 14):
``log_prob / ((5 + length) / 6) ** alpha``, where ``length`` counts the EOS token.

``SEARCH`` names the strategies decoding can use (``greedy``, ``beam``), each a small class with one
call signature; ``search_for(decode_cfg)`` picks the one for a decoding config.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from mt.config import DecodeConfig
from mt.model.transformer import EncoderOut, KVCache, Transformer


@dataclass
class Hypothesis:
    """One finished translation of a sentence, as target ids."""

    tokens: list[int]
    """Target ids without BOS and EOS."""
    score: float
    """Length-normalised score used for ranking (higher is better)."""
    log_prob: float
    """Sum of the token log-probabilities, EOS included."""


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``; ``length`` counts EOS."""
    return ((5.0 + length) / 6.0) ** alpha


def normalized_score(log_prob: float, length: int, alpha: float) -> float:
    """The ranking score of a finished hypothesis: ``log_prob / gnmt_length_penalty(length, alpha)``."""
    return log_prob / gnmt_length_penalty(length, alpha)


def max_output_lengths(src_lengths: Tensor, max_len_a: float, max_len_b: int, limit: int) -> Tensor:
    """Most target tokens (EOS excluded) each sentence may get: ``floor(a * src_len + b)``, at most
    ``limit`` and at least 0. ``src_lengths`` (B,) count real source tokens, EOS included."""
    lengths = torch.floor(src_lengths.to(torch.float64) * max_len_a + max_len_b)
    return lengths.clamp(0, limit).to(torch.long)


def constrain_log_probs(
    log_probs: Tensor, step: int, at_max_len: Tensor, *, bos_id: int, eos_id: int, pad_id: int, min_len: int
) -> Tensor:
    """Apply the generation rules in place to next-token log-probs (N, K, V) at ``step`` (the number
    of tokens generated so far): PAD and BOS are impossible, EOS is impossible while ``step <
    min_len``, and sentences with ``at_max_len`` (N,) must emit EOS (with the model's EOS log-prob,
    at least -1e9; this overrides ``min_len``: a length limit below ``min_len`` wins)."""
    eos_log_prob = log_probs[:, :, eos_id].clone()  # (N, K)
    log_probs[:, :, pad_id] = -math.inf
    log_probs[:, :, bos_id] = -math.inf
    if step < min_len:
        log_probs[:, :, eos_id] = -math.inf
    forced = at_max_len.nonzero().squeeze(1)
    if forced.numel():
        rows = torch.full_like(log_probs[forced], -math.inf)  # (F, K, V)
        # Kept finite so that every live beam can finish, even under a model certain it must not end.
        rows[:, :, eos_id] = eos_log_prob[forced].clamp(min=-1e9)
        log_probs[forced] = rows
    return log_probs


def ban_repeated_ngrams(log_probs: Tensor, prefixes: Tensor, n: int) -> Tensor:
    """In place, forbid (-inf) every next token that would repeat an ``n``-gram already in the row's
    prefix: ``log_probs`` (R, V), ``prefixes`` (R, T) the generated tokens (no BOS). For ``n=3`` and
    prefix ``x n n n``, the context ``n n`` was followed by ``n`` before, so ``n`` is banned: a
    character loop of single-character pieces stops at three. ``n <= 0`` bans nothing."""
    length = prefixes.size(1)
    if n <= 0 or length < n:
        return log_probs
    grams = prefixes.unfold(1, n, 1)  # (R, length - n + 1, n): every n-gram of every row
    context = prefixes[:, length - n + 1:]  # (R, n - 1): the last n - 1 tokens
    seen = (grams[:, :, :-1] == context.unsqueeze(1)).all(dim=2)  # (R, G): n-grams starting like it
    rows, starts = seen.nonzero(as_tuple=True)
    log_probs[rows, grams[rows, starts, -1]] = -math.inf
    return log_probs


class _ModelState:
    """One ensemble member during search: the model, its encoder output and its decoder cache.

    Decoder rows start as one per sentence; ``select_rows`` later copies them out to the beams."""

    def __init__(self, model: Transformer, src_tokens: Tensor, use_cache: bool):
        self.model = model
        self.enc = model.encode(src_tokens)  # out (B, S, D)
        # Cross-attention K/V are projected once per sentence and copied along with the rows. The
        # cached decoder reads the source only from the cache, so ``enc`` is not kept per row then.
        self.cache: KVCache | None = model.new_cache(self.enc) if use_cache else None

    def next_log_probs(self, tokens: Tensor) -> Tensor:
        """Log-probs (R, V) of the token after ``tokens`` (R, T), the prefixes of all rows."""
        if self.cache is not None:
            logits = self.model.decode(tokens[:, -1:], self.enc, self.cache)  # (R, 1, V)
        else:
            logits = self.model.decode(tokens, self.enc)  # (R, T, V): the uncached reference path
        return F.log_softmax(logits[:, -1].float(), dim=-1)

    def select_rows(self, rows: Tensor, source_changed: bool) -> None:
        """Keep decoder rows ``rows`` (R',): reordered beams and, if ``source_changed``, a new
        row-to-sentence map (beams expanded at the first step, or finished sentences dropped)."""
        if self.cache is not None:
            self.cache.reorder(rows, source_too=source_changed)
        elif source_changed:
            self.enc = EncoderOut(self.enc.out.index_select(0, rows), self.enc.src_mask.index_select(0, rows))


def _ensemble_log_probs(states: list[_ModelState], tokens: Tensor) -> Tensor:
    """Next-token log-probs (R, V), averaged over the ensemble in probability space."""
    log_probs = [state.next_log_probs(tokens) for state in states]
    if len(log_probs) == 1:
        return log_probs[0]
    return torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(log_probs))


def _start(models: Sequence[Transformer], src_tokens: Tensor, pad_id: int, max_len_a: float,
           max_len_b: int, use_cache: bool) -> tuple[list[_ModelState], Tensor]:
    """Encode the source with every model; return the states and the per-sentence max lengths (B,)."""
    if not models:
        raise ValueError("search needs at least one model")
    if src_tokens.dim() != 2 or src_tokens.size(0) == 0:
        raise ValueError(f"src_tokens must be a non-empty (batch, src_len) tensor, got {tuple(src_tokens.shape)}")
    # The decoder input is BOS + the generated tokens, so it needs max_len + 1 positions.
    limit = min(m.cfg.max_positions for m in models) - 1
    max_lens = max_output_lengths((src_tokens != pad_id).sum(1), max_len_a, max_len_b, limit)
    return [_ModelState(m, src_tokens, use_cache) for m in models], max_lens.to(src_tokens.device)


def _best_candidates(log_probs: Tensor, scores: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The best ``2k`` extensions per sentence of beams with ``scores`` (N, W) by next-token
    ``log_probs`` (N, W, V): their scores, beams (index < W) and tokens, each (N, 2k), best first."""
    n, width, _ = log_probs.shape
    # The best 2k tokens of each beam, then the best 2k of those per sentence: the same as one
    # top-k over all W * V extensions, without adding the beam score to every (beam, token) pair.
    row_scores, row_tokens = log_probs.topk(2 * k, dim=2)  # (N, W, 2k)
    total = (row_scores + scores.unsqueeze(2)).view(n, width * 2 * k)
    cand_scores, pos = total.topk(2 * k, dim=1)  # (N, 2k)
    return cand_scores, pos // (2 * k), row_tokens.view(n, -1).gather(1, pos)


@dataclass
class _Active:
    """The sentences still being decoded, each (N,): input index, length limit, finished count."""

    ids: Tensor
    max_lens: Tensor
    num_finished: Tensor

    def select(self, index: Tensor) -> _Active:
        return _Active(self.ids[index], self.max_lens[index], self.num_finished[index])


def _next_beams(cand_scores: Tensor, cand_beams: Tensor, cand_tokens: Tensor, is_eos: Tensor,
                k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Scores, source beams and tokens (N, k) of the best ``k`` candidates that are not EOS; there
    are always enough, since each beam has only one EOS extension among the ``2k``."""
    order = is_eos.long() * is_eos.size(1) + torch.arange(is_eos.size(1), device=is_eos.device)  # EOS last
    keep = order.topk(k, dim=1, largest=False).indices  # (N, k) positions, best first
    return cand_scores.gather(1, keep), cand_beams.gather(1, keep), cand_tokens.gather(1, keep)


@torch.inference_mode()
def beam_search(
    models: Sequence[Transformer],
    src_tokens: Tensor,
    *,
    beam_size: int,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float = 1.0,
    max_len_a: float = 1.2,
    max_len_b: int = 10,
    min_len: int = 1,
    nbest: int = 1,
    no_repeat_ngram_size: int = 0,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Translate the (B, S) right-padded ``src_tokens`` (EOS-terminated) with beam search.

    Returns, per sentence and in input order, up to ``nbest`` finished hypotheses, best first.
    ``length_penalty`` is the GNMT alpha; a sentence gets at most ``floor(max_len_a * src_len +
    max_len_b)`` tokens (src_len counts its EOS; capped by the models' ``max_positions``) and at
    least ``min_len``. ``no_repeat_ngram_size=n > 0`` never extends a hypothesis with a token that
    repeats one of its n-grams. ``use_cache=False`` recomputes every prefix from scratch (slow reference).
    The vocabulary must have at least ``2 * beam_size`` entries.
    """
    if beam_size < 1 or not 1 <= nbest <= beam_size:
        raise ValueError(f"need beam_size >= 1 and 1 <= nbest <= beam_size, got {beam_size}, {nbest}")
    k, device = beam_size, src_tokens.device
    states, max_lens = _start(models, src_tokens, pad_id, max_len_a, max_len_b, use_cache)
    batch = src_tokens.size(0)
    active = _Active(torch.arange(batch, device=device), max_lens, torch.zeros_like(max_lens))
    # Every sentence starts with one beam (the empty prefix); it widens to k after the first step.
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=device)  # (N*W, 1 + step)
    scores = torch.zeros(batch, 1, device=device)  # (N, W) log-prob of each live beam
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for step in itertools.count():
        n, width = scores.shape
        log_probs = _ensemble_log_probs(states, tokens).view(n, width, -1)  # (N, W, V)
        at_max = active.max_lens <= step  # (N,)
        constrain_log_probs(log_probs, step, at_max, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                            min_len=min_len)
        ban_repeated_ngrams(log_probs.view(n * width, -1), tokens[:, 1:], no_repeat_ngram_size)
        cand_scores, cand_beams, cand_tokens = _best_candidates(log_probs, scores, k)  # (N, 2k)
        is_eos = cand_tokens == eos_id
        # Only an EOS that would have made it into the beam finishes a hypothesis.
        ends = is_eos[:, :k] & torch.isfinite(cand_scores[:, :k])  # (N, k)
        if ends.any():
            _collect(finished, ends, tokens, cand_scores, cand_beams, active.ids, width, step, length_penalty)
            active.num_finished += ends.sum(1)
        scores, beams, next_tokens = _next_beams(cand_scores, cand_beams, cand_tokens, is_eos, k)
        done = at_max | (active.num_finished >= k)  # (N,)
        sentences = torch.arange(n, device=device)
        dropped = bool(done.any())
        if dropped:  # finished sentences leave the batch
            sentences = (~done).nonzero().squeeze(1)  # (N',)
            if not sentences.numel():
                break
            scores, beams, next_tokens = scores[sentences], beams[sentences], next_tokens[sentences]
            active = active.select(sentences)
        rows = (sentences.unsqueeze(1) * width + beams).view(-1)  # (N'*k,) old row each new beam extends
        for state in states:
            state.select_rows(rows, source_changed=dropped or width != k)
        tokens = torch.cat([tokens.index_select(0, rows), next_tokens.view(-1, 1)], dim=1)
    return [sorted(hyps, key=lambda h: -h.score)[:nbest] for hyps in finished]


def _collect(finished: list[list[Hypothesis]], ends: Tensor, tokens: Tensor, cand_scores: Tensor,
             cand_beams: Tensor, sent_ids: Tensor, width: int, step: int, alpha: float) -> None:
    """Store the hypotheses that end with EOS at ``step`` (``ends`` (N, k) marks the candidates;
    ``tokens`` has ``width`` rows per sentence). A sentence keeps at most k (= ``ends.size(1)``)
    finished hypotheses: its first k, which are its best since they all have the same length."""
    k = ends.size(1)
    sent, pos = ends.nonzero().unbind(1)
    rows = sent * width + cand_beams[sent, pos]
    prefixes = tokens.index_select(0, rows)[:, 1:].tolist()  # without BOS
    penalty = gnmt_length_penalty(step + 1, alpha)  # step tokens + EOS
    for sid, prefix, log_prob in zip(sent_ids[sent].tolist(), prefixes, cand_scores[sent, pos].tolist(),
                                     strict=True):
        if len(finished[sid]) < k:
            finished[sid].append(Hypothesis(prefix, log_prob / penalty, log_prob))


@torch.inference_mode()
def greedy_search(
    models: Sequence[Transformer],
    src_tokens: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float = 1.0,
    max_len_a: float = 1.2,
    max_len_b: int = 10,
    min_len: int = 1,
    no_repeat_ngram_size: int = 0,
    use_cache: bool = True,
    pick: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
) -> list[list[Hypothesis]]:
    """Pick the most probable next token until EOS; the same rules and result format as
    ``beam_search`` (one hypothesis per sentence), and the same tokens as ``beam_size=1``.

    ``pick`` chooses the next token another way: ``(B, V) log-probs -> (log-prob, token)`` per row
    (``sample_pick``); the scores stay the model's log-probabilities of the chosen tokens."""
    states, max_lens = _start(models, src_tokens, pad_id, max_len_a, max_len_b, use_cache)
    batch, device = src_tokens.size(0), src_tokens.device
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=device)  # (B, 1 + step)
    log_prob = torch.zeros(batch, device=device)  # (B,)
    length = torch.zeros(batch, dtype=torch.long, device=device)  # (B,) with EOS; 0 while running
    for step in range(int(max_lens.max()) + 1):
        log_probs = _ensemble_log_probs(states, tokens).view(batch, 1, -1)  # (B, 1, V)
        constrain_log_probs(log_probs, step, max_lens <= step, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                            min_len=min_len)
        ban_repeated_ngrams(log_probs.view(batch, -1), tokens[:, 1:], no_repeat_ngram_size)
        best, best_token = (pick or _most_probable)(log_probs.squeeze(1))  # (B,), (B,)
        running = length == 0
        log_prob += torch.where(running, best, torch.zeros_like(best))
        length = torch.where(running & (best_token == eos_id), step + 1, length)
        if bool((length > 0).all()):
            break
        # Finished rows keep decoding PAD (cheap, ignored) so that the batch keeps its shape.
        tokens = torch.cat([tokens, torch.where(running, best_token, pad_id).unsqueeze(1)], dim=1)
    return [
        [Hypothesis(row[1:n], normalized_score(lp, n, length_penalty), lp)]
        for row, n, lp in zip(tokens.tolist(), length.tolist(), log_prob.tolist(), strict=True)
    ]


def _most_probable(log_probs: Tensor) -> tuple[Tensor, Tensor]:
    return log_probs.max(dim=1)


def sample_pick(topk: int, temperature: float) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """Draw the next token from the model's distribution (sharpened or flattened by ``temperature``,
    restricted to the ``topk`` most probable when ``topk`` > 0), with torch's global generator.
    Sampled back-translations train better than beam ones at scale (Edunov et al. 2018)."""
    def pick(log_probs: Tensor) -> tuple[Tensor, Tensor]:  # (B, V) -> (B,), (B,)
        scores = log_probs.float() / temperature
        if topk > 0:
            kth = scores.topk(min(topk, scores.size(1)), dim=1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        token = torch.multinomial(scores.softmax(dim=1), 1).squeeze(1)
        return log_probs.gather(1, token[:, None]).squeeze(1), token
    return pick


def search_rules(cfg: DecodeConfig) -> dict[str, Any]:
    """The generation rules of ``cfg`` that every strategy passes on, as keyword arguments."""
    return dict(length_penalty=cfg.length_penalty, max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b,
                min_len=cfg.min_len, no_repeat_ngram_size=cfg.no_repeat_ngram_size)


class SearchStrategy(Protocol):
    """One way to search a batch; ``SEARCH`` holds them by name."""

    limit_independent: ClassVar[bool]
    """Whether a hypothesis searched under a larger length limit and cut to a smaller one is what the
    search gives under the smaller limit."""

    def __call__(self, models: Sequence[Transformer], src_tokens: Tensor, cfg: DecodeConfig, *, bos_id: int,
                 eos_id: int, pad_id: int) -> list[list[Hypothesis]]:
        """Per sentence of the (B, S) EOS-terminated, right-padded ``src_tokens``, in input order, up
        to ``cfg.nbest`` hypotheses, best first, under ``cfg``'s rules."""
        ...


@dataclass(frozen=True)
class GreedySearch:
    """The most probable token at every step: one hypothesis per sentence (``greedy_search``)."""

    use_cache: bool = True
    """False recomputes every prefix (the slow reference that checks the cache)."""
    limit_independent: ClassVar[bool] = True
    """A hypothesis searched under a larger length limit and cut to a smaller one is what the search
    gives under the smaller limit: each token depends only on its prefix. Backends that decode a batch
    under one shared limit rely on this (mt.decode.ct2)."""

    def __call__(self, models: Sequence[Transformer], src_tokens: Tensor, cfg: DecodeConfig, *, bos_id: int,
                 eos_id: int, pad_id: int) -> list[list[Hypothesis]]:
        """Hypotheses of the (B, S) EOS-terminated, right-padded ``src_tokens``, best first."""
        return greedy_search(models, src_tokens, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                             use_cache=self.use_cache, **search_rules(cfg))


@dataclass(frozen=True)
class BeamSearch:
    """Beam search with ``cfg.beam_size`` beams and up to ``cfg.nbest`` hypotheses (``beam_search``)."""

    use_cache: bool = True
    """False recomputes every prefix (the slow reference that checks the cache)."""
    limit_independent: ClassVar[bool] = False
    """At its length limit every live beam must end, so a smaller limit can change which hypotheses
    finish."""

    def __call__(self, models: Sequence[Transformer], src_tokens: Tensor, cfg: DecodeConfig, *, bos_id: int,
                 eos_id: int, pad_id: int) -> list[list[Hypothesis]]:
        """Hypotheses of the (B, S) EOS-terminated, right-padded ``src_tokens``, best first."""
        return beam_search(models, src_tokens, beam_size=cfg.beam_size, nbest=cfg.nbest, bos_id=bos_id,
                           eos_id=eos_id, pad_id=pad_id, use_cache=self.use_cache, **search_rules(cfg))


@dataclass(frozen=True)
class SampleSearch:
    """One sampled hypothesis per sentence (``decode.sampling``; ``sample_pick``)."""

    use_cache: bool = True
    limit_independent: ClassVar[bool] = True
    """Each token depends only on its prefix (and the generator's state)."""

    def __call__(self, models: Sequence[Transformer], src_tokens: Tensor, cfg: DecodeConfig, *, bos_id: int,
                 eos_id: int, pad_id: int) -> list[list[Hypothesis]]:
        """Hypotheses of the (B, S) EOS-terminated, right-padded ``src_tokens``, one per sentence."""
        return greedy_search(models, src_tokens, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                             use_cache=self.use_cache, **search_rules(cfg),
                             pick=sample_pick(cfg.sampling_topk, cfg.sampling_temperature))


SEARCH: dict[str, SearchStrategy] = {"greedy": GreedySearch(), "beam": BeamSearch(), "sample": SampleSearch()}
"""The search strategies by name. A new one is a class with ``SearchStrategy``'s call and attribute,
one entry here, and the rule in ``search_name`` that picks it."""


def search_name(cfg: DecodeConfig) -> str:
    """The key in ``SEARCH`` that decodes with ``cfg``: ``sample`` with ``decode.sampling``, else
    ``greedy`` at ``beam_size`` 1 (the same tokens as one beam, without the beam bookkeeping), ``beam``
    otherwise."""
    if cfg.sampling:
        return "sample"
    return "greedy" if cfg.beam_size == 1 else "beam"


def search_for(cfg: DecodeConfig) -> SearchStrategy:
    """The strategy that decodes with ``cfg`` (``SEARCH[search_name(cfg)]``)."""
    return SEARCH[search_name(cfg)]
