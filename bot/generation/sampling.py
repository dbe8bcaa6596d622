"""Sampling parameters and the fast backend's token sampler (transformers' warpers, exactly).

transformers samples with: repetition penalty -> temperature -> top-k -> top-p -> a draw from
the softmax. `choose_tokens` gives the same distribution with less work per step:
- with a top-k (the default 50), only the k best logits are sorted and drawn from;
- without one (`top_k = 0`, nucleus only), sorting the whole vocabulary (50,257 logits for
  GPT-2) is what transformers does and what cost the fast backend most of a step: 35 ms for 8
  rows, plus 13 ms for `multinomial` over the full vocabulary. A model with random weights (the
  bench's) spreads top_p = 0.95 over ~90% of the vocabulary, so a bounded top-k candidate set
  with a fall-back to the full sort would fall back at every step. `nucleus_threshold` finds
  the nucleus with a histogram instead (one pass, no sort of the vocabulary), and the draw
  picks a bin by its mass, then a token of that bin: no pass over the vocabulary in float64
  beyond the weights themselves (8 rows, same process: 6.8-12 ms a step against 16-20 for
  the earlier inverse CDF over the whole masked vocabulary, whose mask, running sum and
  int64 bin comparisons were three more full passes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from bot.config import GenerationSection
from bot.errors import UsageError

# Chunk length of top_k's bound on the k-th best logit (see top_k).
TOP_K_CHUNK = 64
# Histogram resolution of nucleus_threshold: the vocabulary's logits are binned over their
# range into this many bins, and only the bin where the mass crosses top_p is sorted.
NUCLEUS_BINS = 1024
# Tokens further than this below a row's best logit (probability ratio e^-30 ~ 1e-13) share the
# last bin; they still count, exactly, in the mass.
NUCLEUS_LOGIT_RANGE = 30.0


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one generate call (defaults: `[generation]` of the config)."""

    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1
    max_new_tokens: int = 60
    # Only benchmarks set this: it forbids EOS until this many tokens exist.
    min_new_tokens: int = 0

    @classmethod
    def from_settings(cls, settings: GenerationSection) -> Sampling:
        """The sampling part of `[generation]`."""
        return cls(
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            repetition_penalty=settings.repetition_penalty,
            max_new_tokens=settings.max_new_tokens,
        )

    def updated(self, overrides: dict[str, Any]) -> Sampling:
        """A copy with some parameters replaced; an unknown name is a UsageError."""
        unknown = sorted(set(overrides) - set(asdict(self)))
        if unknown:
            raise UsageError(f"unknown sampling parameter(s): {', '.join(unknown)}")
        return replace(self, **overrides)


def penalize_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> None:
    """transformers' repetition penalty, in place: every id already in the row (prompt and
    generated, as transformers does) has its logit divided by `penalty` if positive, else
    multiplied."""
    scores = logits.gather(1, seen)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    logits.scatter_(1, seen, scores)


def token_distribution(
    logits: torch.Tensor, sampling: Sampling
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's next-token distribution under transformers' temperature -> top-k -> top-p
    warpers, as (probabilities, token ids), both (rows, k): tokens outside the k have
    probability 0 after top-k anyway, so top-p and the draw only need these k. Without a
    top-k this sorts the whole vocabulary (the reference; `choose_tokens` avoids it)."""
    k = min(max(sampling.top_k, 1), logits.shape[1]) if sampling.top_k > 0 else logits.shape[1]
    # The temperature divides the k values only: dividing by a positive number keeps the order.
    values, ids = top_k(logits, k)
    values = values / sampling.temperature
    if sampling.top_p < 1.0:
        # As TopPLogitsWarper: drop the low tail whose total mass is <= 1 - top_p, always
        # keeping the best token.
        tail_mass = values.flip(1).softmax(dim=1).cumsum(dim=1)
        drop = (tail_mass <= 1 - sampling.top_p).flip(1)
        drop[:, 0] = False
        values = values.masked_fill(drop, -math.inf)
    return values.softmax(dim=1), ids


def top_k(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.topk(logits, k, dim=1)` (values sorted descending, and their ids), cheaper on a
    large vocabulary. Split each row into chunks of TOP_K_CHUNK logits: a logit among the k
    best of its row lies in one of the k chunks with the largest maxima (k logits of other
    chunks would each be above it), so only those k chunks are ranked (for GPT-2 at k = 50:
    3,200 logits of 50,257). torch.topk on the whole vocabulary: ~1.1 ms a step for 8 rows.
    """
    rows, vocab = logits.shape
    whole = vocab // TOP_K_CHUNK
    if whole < 4 * k or not logits.is_contiguous():
        return torch.topk(logits, k, dim=1)
    usable = whole * TOP_K_CHUNK
    chunks = logits[:, :usable].view(rows, whole, TOP_K_CHUNK)
    best_chunks = chunks.amax(dim=2).topk(k, dim=1).indices  # (rows, k)
    gathered = chunks.gather(1, best_chunks.unsqueeze(2).expand(-1, -1, TOP_K_CHUNK))
    offsets = torch.arange(TOP_K_CHUNK)
    ids = (best_chunks.unsqueeze(2) * TOP_K_CHUNK + offsets).view(rows, -1)
    candidates = gathered.view(rows, -1)
    if vocab > usable:  # the last, partial chunk always competes
        candidates = torch.cat([candidates, logits[:, usable:]], dim=1)
        tail = torch.arange(usable, vocab).expand(rows, -1)
        ids = torch.cat([ids, tail], dim=1)
    values, picked = candidates.topk(k, dim=1)
    return values, ids.gather(1, picked)


def nucleus_threshold(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Per row, the smallest logit inside the top-p nucleus, (rows, 1): the nucleus is exactly
    `logits >= threshold`, the tokens whose better-ranked tokens hold less than `top_p` of the
    mass (transformers' rule: the tail dropped holds at most 1 - top_p; the best token always
    stays). Masses are summed in float64, so the set is that of a full sort up to ties.

    How, without sorting the vocabulary: bin each logit by its distance below the row's best
    (NUCLEUS_BINS bins over the row's range), sum each bin's probability mass, and find the bin
    where the cumulative mass (best bins first) reaches top_p. Every bin before it is inside,
    every bin after it outside; only that one bin's logits are sorted.
    """
    bins = _Histogram(logits, top_p)
    rows, ids, bin_of = bins.tokens_in(bins.crossing)
    return bins.edge(rows, ids, bin_of)[0]


class _Histogram:
    """One pass over the vocabulary: each row's unnormalised probabilities exp(logit - best)
    in float64, each token's bin (numbered from row * NUCLEUS_BINS, best logits in the row's
    first bin), each bin's mass, and the bin where the cumulative mass crosses top_p."""

    def __init__(self, logits: torch.Tensor, top_p: float) -> None:
        rows = logits.shape[0]
        self.logits = logits
        self.best = logits.amax(dim=1, keepdim=True).double()
        self.weights = _weights(logits, self.best)
        # Distance below the best, capped (so -inf and the far tail share the last bin). Any
        # binning that keeps the order of the logits is exact: only the crossing bin is sorted.
        below = (self.best.float() - logits).clamp_(max=NUCLEUS_LOGIT_RANGE)
        scale = (NUCLEUS_BINS - 1) / below.amax(dim=1, keepdim=True).clamp_(min=1e-6)
        self.offset = (torch.arange(rows, dtype=torch.int32) * NUCLEUS_BINS).unsqueeze(1)
        self.bins = below.mul_(scale).add_(self.offset).to(torch.int32)
        mass = torch.zeros(rows * NUCLEUS_BINS, dtype=torch.float64)
        mass.index_add_(0, self.bins.view(-1), self.weights.view(-1))
        self.mass = mass.view(rows, NUCLEUS_BINS)
        self.cumulative = self.mass.cumsum(dim=1)
        # Relative to the histogram's own total, so the last bin always reaches the budget.
        self.budget = self.cumulative[:, -1:] * top_p
        crossing = (self.cumulative < self.budget).sum(dim=1, keepdim=True)
        self.crossing = crossing.clamp_(max=NUCLEUS_BINS - 1)
        # The mass of every bin before the crossing one: all inside the nucleus.
        self.before = self.start_of(self.crossing)

    def start_of(self, row_bins: torch.Tensor) -> torch.Tensor:
        """The cumulative mass before each row's given bin, (rows, 1)."""
        return self.cumulative.gather(1, row_bins) - self.mass.gather(1, row_bins)

    def tokens_in(self, *row_bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tokens of every row in any of the given bins ((rows, 1) each, numbered within
        the row), found in one pass over the vocabulary: (row, token id, its bin) per token."""
        # int32 on both sides: a mixed comparison would copy the whole bins tensor to int64.
        wanted = self.bins == (row_bins[0] + self.offset).to(torch.int32)
        for other in row_bins[1:]:
            wanted |= self.bins == (other + self.offset).to(torch.int32)
        rows, ids = wanted.nonzero(as_tuple=True)
        return rows, ids, self.bins[rows, ids] - self.offset[rows, 0]

    def edge(
        self, rows: torch.Tensor, ids: torch.Tensor, bin_of: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From found tokens, the crossing bin's: each row's threshold (rows, 1), and its
        tokens best first with their weights, zero outside the nucleus (rows, width). Ties
        with the threshold are inside, as `logits >= threshold` has them."""
        on_edge = bin_of == self.crossing[rows, 0]
        rows, ids = rows[on_edge], ids[on_edge]
        values, ids = _by_row(rows, self.logits[rows, ids], ids, len(self.logits), -math.inf)
        weights = _weights(values, self.best)  # the padding (-inf) weighs 0
        better = self.before + weights.cumsum(dim=1) - weights
        kept = ((better < self.budget) & (weights > 0)).sum(dim=1, keepdim=True).clamp_(min=1)
        threshold = values.gather(1, kept - 1)
        return threshold, ids, weights.masked_fill_(values < threshold, 0.0)


def _weights(logits: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Unnormalised probabilities exp(logit - best) in float64, best (rows, 1) already float64;
    -inf logits weigh 0."""
    return logits.double().sub_(best).exp_()


def _by_row(
    rows: torch.Tensor, values: torch.Tensor, ids: torch.Tensor, count: int, fill: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat (row, value, id) entries as (count, width) tensors, one row each, best value first;
    the rest of each row is `fill` (id 0)."""
    order = values.argsort(descending=True, stable=True)
    order = order[rows[order].argsort(stable=True)]
    rows, values, ids = rows[order], values[order], ids[order]
    counts = torch.bincount(rows, minlength=count)
    width = max(int(counts.max()) if rows.numel() else 0, 1)
    place = torch.arange(rows.numel()) - (counts.cumsum(dim=0) - counts)[rows]
    grid = torch.full((count, width), fill, dtype=values.dtype)
    grid[rows, place] = values
    grid_ids = torch.zeros((count, width), dtype=torch.long)
    grid_ids[rows, place] = ids
    return grid, grid_ids


def _draw_nucleus(
    logits: torch.Tensor, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One token per row from softmax(logits) restricted to the top-p nucleus."""
    count = logits.shape[0]
    if top_p >= 1.0:
        weights = _weights(logits, logits.amax(dim=1, keepdim=True).double())
        uniform = torch.rand(count, 1, dtype=torch.float64, generator=generator)
        return _at(weights, uniform * weights.sum(dim=1, keepdim=True)).squeeze(1)
    bins = _Histogram(logits, top_p)
    # A mixture, so that one pass finds every token the draw needs: with probability
    # before / (before + edge mass) a token of the bins before the crossing one (a bin by its
    # mass, then a token of it by weight), else one of the crossing bin's nucleus tokens.
    uniform = torch.rand(count, 2, dtype=torch.float64, generator=generator)
    into_before = uniform[:, :1] * bins.before
    chosen = torch.searchsorted(bins.cumulative, into_before, right=True)
    chosen = torch.minimum(chosen, bins.crossing)
    rows, ids, bin_of = bins.tokens_in(bins.crossing, chosen)
    _, edge_ids, edge_weights = bins.edge(rows, ids, bin_of)
    point = uniform[:, 1:] * (bins.before + edge_weights.sum(dim=1, keepdim=True))
    from_edge = edge_ids.gather(1, _at(edge_weights, point - bins.before))
    own = (bin_of == chosen[rows, 0]) & (bin_of != bins.crossing[rows, 0])
    rows, ids = rows[own], ids[own]
    weights, ids = _by_row(rows, bins.weights[rows, ids], ids, count, 0.0)
    from_chosen = ids.gather(1, _at(weights, into_before - bins.start_of(chosen)))
    before = (point < bins.before) & (chosen < bins.crossing)
    return torch.where(before, from_chosen, from_edge).squeeze(1)


def _at(weights: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Per row, the index where the running sum of `weights` passes `point` (rows, 1): an
    inverse-CDF draw (the order of the tokens does not matter for a categorical draw, so
    nothing is sorted; float64 keeps every token's share exact to ~1e-12)."""
    running = weights.cumsum(dim=1)
    return torch.searchsorted(running, point, right=True).clamp_(max=weights.shape[1] - 1)


def choose_tokens(
    logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One sampled token id per row of processed logits (repetition penalty already applied):
    temperature, top-k, top-p and the draw, as transformers samples."""
    vocab = logits.shape[1]
    if 0 < sampling.top_k < vocab:
        probs, ids = token_distribution(logits, sampling)
        picks = torch.multinomial(probs, 1, generator=generator)
        return ids.gather(1, picks).squeeze(1)
    return _draw_nucleus(logits / sampling.temperature, sampling.top_p, generator)
