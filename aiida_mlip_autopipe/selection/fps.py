"""Greedy farthest point sampling (FPS) that starts from what is already labelled.

Each pick is the candidate farthest (Euclidean, in descriptor space) from everything
known so far: the labelled set plus the earlier picks. Starting from the labelled set
makes new picks far from existing data, not only from each other, which is the point
of active learning.

The update after each pick is one matrix-vector product, using
``|x - y|² = |x|² + |y|² - 2 x·y`` with precomputed norms, so 100 picks from 10 000
candidates of 390 features take well under a second (see ``benchmarks/selection_fps.py``).
Ties go to the lowest index; the seed only chooses the first pick when nothing is
labelled yet, so the result is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ('FPSResult', 'farthest_point_sampling', 'min_distances_to')

#: Relative tolerance under which two descriptors count as identical (float round-off of
#: the norm expansion), as a fraction of the largest squared norm.
_RELATIVE_ZERO = 1e-12


@dataclass
class FPSResult:
    """Indices of the picks in selection order and their distance to the known set when picked."""

    indices: np.ndarray
    #: Distance of each pick to the known set at the time it was picked (``inf`` for the
    #: first pick without a labelled set). Non-increasing.
    distances: np.ndarray
    #: Final distance of every candidate to the known set (0 for picks).
    remaining: np.ndarray
    #: Why fewer than ``n`` were picked: ``'exhausted'`` (no candidates left),
    #: ``'duplicates'`` (all remaining within ``duplicate_distance``) or None.
    stopped: str | None = None


def min_distances_to(points: np.ndarray, reference: np.ndarray, chunk_elements: int = 4_000_000) -> np.ndarray:
    """Squared distance from each row of ``points`` to its nearest row of ``reference`` (chunked)."""
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    best = np.full(len(points), np.inf)
    if len(reference) == 0 or len(points) == 0:
        return best
    point_norms = np.einsum('ij,ij->i', points, points)
    step = max(1, chunk_elements // max(1, len(points)))
    for start in range(0, len(reference), step):
        block = reference[start : start + step]
        block_norms = np.einsum('ij,ij->i', block, block)
        d2 = point_norms[:, None] + block_norms[None, :] - 2.0 * points @ block.T
        np.minimum(best, d2.min(axis=1), out=best)
    return np.maximum(best, 0.0)


def farthest_point_sampling(
    descriptors: np.ndarray,
    n: int,
    reference: np.ndarray | None = None,
    seed: int = 0,
    duplicate_distance: float = 0.0,
) -> FPSResult:
    """Pick up to ``n`` rows of ``descriptors`` by greedy farthest point sampling.

    :param descriptors: (m, d) candidate descriptors.
    :param n: number of picks wanted.
    :param reference: (k, d) descriptors of the labelled set; picks start far from them.
    :param seed: chooses the first pick when ``reference`` is empty.
    :param duplicate_distance: stop when the farthest remaining candidate is within this
        distance of the known set (exact duplicates are never picked).
    """
    x = np.asarray(descriptors, dtype=float)
    if x.ndim != 2:
        raise ValueError(f'descriptors must be a 2D array, got shape {x.shape}')
    if n < 0:
        raise ValueError(f'n must be non-negative, got {n}')
    m = len(x)
    norms = np.einsum('ij,ij->i', x, x)
    has_reference = reference is not None and len(reference) > 0
    if has_reference:
        reference = np.asarray(reference, dtype=float)
        if reference.ndim != 2 or reference.shape[1] != x.shape[1]:
            raise ValueError(f'reference of shape {reference.shape} does not match descriptors of shape {x.shape}')
        d2 = min_distances_to(x, reference)
        scale = max(float(norms.max(initial=0.0)), float(np.einsum('ij,ij->i', reference, reference).max()))
    else:
        d2 = np.full(m, np.inf)
        scale = float(norms.max(initial=0.0))
    zero = _RELATIVE_ZERO * max(scale, 1e-300)
    threshold = max(duplicate_distance**2, zero)
    available = np.ones(m, dtype=bool)
    picks: list[int] = []
    distances: list[float] = []
    stopped = None
    for step in range(min(n, m) if m else 0):
        if step == 0 and not has_reference:
            pick = int(np.random.default_rng(seed).integers(m))
        else:
            masked = np.where(available, d2, -1.0)
            pick = int(np.argmax(masked))
            if masked[pick] <= threshold:
                stopped = 'duplicates'
                break
        picks.append(pick)
        distances.append(float(np.sqrt(d2[pick])) if np.isfinite(d2[pick]) else np.inf)
        available[pick] = False
        update = norms + norms[pick] - 2.0 * (x @ x[pick])
        np.minimum(d2, np.maximum(update, 0.0), out=d2)
        d2[pick] = 0.0
    if stopped is None and len(picks) < n:
        stopped = 'exhausted'
    remaining = np.sqrt(np.where(np.isfinite(d2), d2, np.inf))
    return FPSResult(np.array(picks, dtype=int), np.array(distances, dtype=float), remaining, stopped)
