"""Farthest point sampling: against a brute-force implementation, from the labelled set, deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aiida_mlip_autopipe.selection.fps import farthest_point_sampling, min_distances_to


def _brute_force_distance(point, known):
    """Distance from ``point`` to the nearest of ``known``, one pair at a time."""
    return min((math.dist(point, other) for other in known), default=math.inf)


def _check_against_brute_force(x, reference, result, n):
    """Replay the picks: each must be a farthest remaining point (ties allowed) at the reported distance."""
    known = [tuple(row) for row in reference] if reference is not None else []
    remaining = set(range(len(x)))
    for step, (pick, distance) in enumerate(zip(result.indices, result.distances, strict=True)):
        assert pick in remaining
        distances = {i: _brute_force_distance(x[i], known) for i in remaining}
        best = max(distances.values())
        if step == 0 and not known:
            assert math.isinf(distance)
        else:
            assert distances[pick] == pytest.approx(best, rel=1e-6, abs=1e-6)
            assert distance == pytest.approx(best, rel=1e-6, abs=1e-6)
        known.append(tuple(x[pick]))
        remaining.discard(pick)
    assert len(result.indices) == min(n, len(x)) or result.stopped == 'duplicates'
    if result.stopped == 'duplicates':
        norms = [float(np.dot(row, row)) for row in x] + [
            float(np.dot(row, row)) for row in (reference if reference is not None else [])
        ]
        same = math.sqrt(1e-12 * max(norms)) * 1.01 + 1e-12
        assert all(_brute_force_distance(x[i], known) <= same for i in remaining)
    for i in remaining:
        assert result.remaining[i] == pytest.approx(_brute_force_distance(x[i], known), rel=1e-6, abs=1e-5)


coordinates = st.floats(-10, 10, allow_nan=False, width=32)
points = st.integers(1, 25).flatmap(
    lambda m: st.integers(1, 6).flatmap(
        lambda d: st.tuples(
            arrays(np.float64, (m, d), elements=coordinates),
            st.one_of(st.none(), st.integers(1, 5).flatmap(lambda k: arrays(np.float64, (k, d), elements=coordinates))),
        )
    )
)


@given(data=points, n=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_matches_brute_force(data, n, seed):
    x, reference = data
    result = farthest_point_sampling(x, n, reference=reference, seed=seed)
    _check_against_brute_force(x, reference, result, n)
    assert np.all(np.diff(result.distances[1:] if reference is None else result.distances) <= 1e-9)


def test_first_pick_depends_only_on_the_seed_without_reference():
    x = np.random.default_rng(0).normal(size=(50, 4))
    picks = {farthest_point_sampling(x, 1, seed=s).indices[0] for s in range(20)}
    assert len(picks) > 5
    a = farthest_point_sampling(x, 10, seed=3)
    b = farthest_point_sampling(x, 10, seed=3)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.distances, b.distances)


def test_reference_pushes_picks_away_from_known_data():
    rng = np.random.default_rng(1)
    cluster_a = rng.normal(0, 0.1, size=(20, 3))
    cluster_b = rng.normal(5, 0.1, size=(20, 3))
    x = np.vstack([cluster_a, cluster_b])
    # Cluster A is already labelled: the first new pick must come from cluster B.
    result = farthest_point_sampling(x, 1, reference=cluster_a[:3] + 0.01, seed=0)
    assert result.indices[0] >= 20
    # And the seed no longer matters.
    first = farthest_point_sampling(x, 3, reference=cluster_a, seed=0).indices.tolist()
    for seed in range(1, 4):
        assert farthest_point_sampling(x, 3, reference=cluster_a, seed=seed).indices.tolist() == first


def test_duplicates_are_never_picked():
    base = np.random.default_rng(2).normal(size=(5, 3))
    x = np.vstack([base, base, base])
    result = farthest_point_sampling(x, 10, seed=0)
    assert len(result.indices) == 5 and result.stopped == 'duplicates'
    assert sorted({i % 5 for i in result.indices}) == [0, 1, 2, 3, 4]
    assert np.allclose(result.remaining, 0.0, atol=1e-6)
    # With a labelled copy of everything, nothing is new.
    again = farthest_point_sampling(x, 3, reference=base, seed=0)
    assert len(again.indices) == 0 and again.stopped == 'duplicates'
    # A looser duplicate threshold stops earlier.
    spread = farthest_point_sampling(base, 5, seed=0, duplicate_distance=1e9)
    assert len(spread.indices) == 1


def test_exhausted_and_empty():
    x = np.eye(3)
    result = farthest_point_sampling(x, 5, seed=0)
    assert len(result.indices) == 3 and result.stopped == 'exhausted'
    empty = farthest_point_sampling(np.zeros((0, 3)), 2)
    assert len(empty.indices) == 0 and empty.stopped == 'exhausted'
    with pytest.raises(ValueError, match='does not match'):
        farthest_point_sampling(x, 1, reference=np.zeros((2, 4)))


def test_min_distances_in_chunks():
    rng = np.random.default_rng(3)
    x, ref = rng.normal(size=(40, 5)), rng.normal(size=(33, 5))
    expected = np.array([min(np.sum((p - r) ** 2) for r in ref) for p in x])
    assert np.allclose(min_distances_to(x, ref, chunk_elements=50), expected)
    assert np.allclose(min_distances_to(x, ref), expected)
