"""D-optimal selection on synthetic projections: largest gamma first, no twins, a stop when all interpolate."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.selection.doptimal import active_set_from, greedy_doptimal, maxvol_rank


def _structure(*rows):
    return {0: np.array(rows, dtype=float)}


def test_greedy_picks_the_largest_gamma_and_never_its_twin():
    # Active set = identity in 3 dimensions: gamma of a row is its largest absolute component.
    inverse = {0: np.eye(3)}
    pool = [
        _structure([0.5, 0.2, 0.1]),  # inside: gamma 0.5
        _structure([3.0, 0.0, 0.0]),  # far along x: gamma 3
        _structure([3.0, 0.0, 0.0]),  # its twin
        _structure([0.0, 2.0, 0.0]),  # along y: gamma 2
    ]
    result = greedy_doptimal(pool, inverse, n=4)
    assert result.initial_gamma == pytest.approx([0.5, 3.0, 3.0, 2.0])
    assert result.order == [1, 3]
    assert result.scores == pytest.approx([3.0, 2.0])
    # After the picks joined the active set, the twin and the inside point interpolate: picking stops.
    assert result.stopped == 'interpolating'
    assert result.final_gamma[2] == pytest.approx(1.0) and result.final_gamma[0] < 1.0
    assert result.log_det_gain == pytest.approx([np.log10(3.0), np.log10(2.0)])


def test_greedy_respects_the_budget_and_a_higher_threshold():
    inverse = {0: np.eye(2)}
    pool = [_structure([4.0, 0.0]), _structure([0.0, 3.0]), _structure([1.5, 0.0])]
    assert greedy_doptimal(pool, inverse, n=1).order == [0]
    assert greedy_doptimal(pool, inverse, n=3, min_gamma=3.5).order == [0]


def test_maxvol_rank_counts_distinct_rows_and_refuses_too_few_atoms():
    rng = np.random.default_rng(0)
    pool = [_structure(*rng.normal(size=(3, 4))) for _ in range(4)] + [_structure([1e-3, 0, 0, 0])]
    result = maxvol_rank(pool, n=2)
    assert sum(result.rows) == 4  # one row per function
    assert result.rows[4] == 0  # a tiny projection never enters the active set
    assert result.order == sorted(range(5), key=lambda i: (-result.rows[i], i))[:2]
    with pytest.raises(ValueError, match='too few'):
        maxvol_rank([_structure([1.0, 2.0, 3.0, 4.0])], n=1)
    assert active_set_from([_structure([1.0, 2.0])]) is None


def test_a_singular_active_set_from_a_tiny_fit_still_selects():
    """A 3-label, 8-function fit left a rank-deficient .asi: inverting it failed the job (LinAlgError)."""
    singular = {0: np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])}
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(singular[0])
    pool = [_structure([0.2, 0.1, 0.0]), _structure([4.0, 0.0, 0.0]), _structure([0.0, 0.0, 5.0])]
    result = greedy_doptimal(pool, singular, n=2, min_gamma=1.0)
    assert result.order and result.order[0] == 1  # the far candidate along x is picked first
    assert all(np.isfinite(result.final_gamma))
