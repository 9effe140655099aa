"""D-optimal selection on ACE's own basis: label the structures that most enlarge the active set.

An ACE potential extrapolates where an atom's B-basis projection ``b`` lies outside the
span its active set ``A`` (one square matrix per element, rows = atomic environments of
the training data, chosen by MaxVol) covers: the extrapolation grade is
``gamma = max_j |(b A^-1)_j|``, and replacing row ``j`` of ``A`` by ``b`` multiplies
``|det A|`` by exactly ``|(b A^-1)_j|``. So the candidate with the largest gamma is the one
whose label most enlarges the volume of what the potential knows (D-optimality), and after
it is picked its atoms enter ``A`` (MaxVol swaps), so that the next pick is informative
*given* the first: two near-copies are never both picked.

- :func:`greedy_doptimal` — with an active set (the current potential's ``.asi``, or one
  built from the labelled frames): picks one structure at a time by largest gamma, swaps its
  atoms in, recomputes the others' gamma; stops early when everything left interpolates
  (gamma <= ``min_gamma``).
- :func:`maxvol_rank` — with nothing to start from (cold start): MaxVol over the atoms of
  all candidates, structures ranked by how many rows of the resulting active set they hold
  (what ``pace_select`` does).

Projections come from :func:`b_projections` on the current potential's B-basis YAML, or on
an untrained basis of the fit settings (:func:`untrained_basis`): D-optimality needs the
basis, not fitted coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = (
    'DOptimalResult',
    'active_set_from',
    'b_projections',
    'greedy_doptimal',
    'load_active_inverse',
    'maxvol_rank',
    'untrained_basis',
)

#: Tolerance of the MaxVol swaps (a swap must grow |det| by more than this factor).
SWAP_TOLERANCE = 1.001
#: Added to the diagonal of projections with a constant column (no information), as pyace does.
EPSILON = 1e-8


@dataclass
class DOptimalResult:
    """Picks in order with the score they were picked at, and every candidate's gamma before and after."""

    order: list[int]
    #: Max gamma of each pick when it was picked (the factor by which its best swap grows |det A|).
    scores: list[float]
    #: Max gamma of every candidate against the starting active set (``None`` on a cold start).
    initial_gamma: list[float | None]
    #: Max gamma of every candidate against the final active set (picks included).
    final_gamma: list[float | None]
    #: log10 of |det| gained per pick, summed over elements.
    log_det_gain: list[float] = field(default_factory=list)
    stopped: str | None = None
    #: Rows of the cold-start active set each candidate holds (``maxvol_rank`` only).
    rows: list[int] | None = None


def untrained_basis(potential_section: Mapping[str, Any]) -> Any:
    """A ``BBasisConfiguration`` from a pacemaker ``potential:`` section (as ``training.input`` writes it)."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    return create_multispecies_basis_config(dict(potential_section))


def b_projections(basis: Any, structures: Sequence[Any]) -> tuple[list[dict[int, np.ndarray]], list[str]]:
    """Per structure, ``{element index: projections (n_atoms of that element, n_functions)}``; and the elements.

    ``basis``: a B-basis YAML path, a ``BBasisConfiguration`` or an ``ACEBBasisSet``.
    """
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.activelearning import compute_B_projections

    if isinstance(basis, str):
        basis = BBasisConfiguration(basis)
    bbasis = basis if isinstance(basis, ACEBBasisSet) else ACEBBasisSet(basis)
    projections, owner = compute_B_projections(bbasis, list(structures), return_structure_ind_dict=True)
    per_structure: list[dict[int, np.ndarray]] = [{} for _ in structures]
    for element, rows in projections.items():
        for index in range(len(structures)):
            mine = rows[owner[element] == index]
            if len(mine):
                per_structure[index][element] = mine
    return per_structure, list(bbasis.elements_name)


def _stacked(per_structure: Sequence[Mapping[int, np.ndarray]], element: int, width: int) -> np.ndarray:
    parts = [p[element] for p in per_structure if element in p]
    return np.vstack(parts) if parts else np.zeros((0, width))


def _regularised(rows: np.ndarray) -> np.ndarray:
    rows = np.array(rows, dtype=float)
    constant = np.flatnonzero(np.std(rows, axis=0) == 0) if len(rows) > 1 else np.arange(rows.shape[1])
    for k, column in enumerate(constant):
        rows[k % len(rows), column] += EPSILON
    return rows


def active_set_from(per_structure: Sequence[Mapping[int, np.ndarray]]) -> dict[int, np.ndarray] | None:
    """The MaxVol active set of the given structures' atoms per element, or None with too few atoms for one."""
    from pyace.maxvol import maxvol

    elements = sorted({e for p in per_structure for e in p})
    active = {}
    for element in elements:
        width = next(p[element].shape[1] for p in per_structure if element in p)
        rows = _regularised(_stacked(per_structure, element, width))
        if len(rows) < width:
            return None
        selected, _ = maxvol(rows, tol=SWAP_TOLERANCE, max_iters=1000)
        active[element] = rows[selected]
    return active


def _gamma(projections: Mapping[int, np.ndarray], inverse: Mapping[int, np.ndarray]) -> float:
    values = [np.abs(rows @ inverse[e]).max() for e, rows in projections.items() if e in inverse and len(rows)]
    return float(max(values)) if values else 0.0


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of an active set, or its pseudo-inverse when it is singular.

    A small fit (few labels, few functions) can leave an active set whose projections are
    linearly dependent: ``pace_activeset`` still writes it, and its ``.asi`` is then not
    invertible. The pseudo-inverse gives the same gammas on the span it covers, so selection
    goes on instead of failing the job.
    """
    try:
        return np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix)


def _swap_in(active: np.ndarray, inverse: np.ndarray, rows: np.ndarray, max_swaps: int) -> tuple[np.ndarray, float]:
    """MaxVol swaps of ``rows`` into ``active`` until none grows |det| by SWAP_TOLERANCE; return inverse, log10 gain."""
    gain = 0.0
    for _ in range(max_swaps):
        coefficients = np.abs(rows @ inverse)
        i, j = np.unravel_index(int(np.argmax(coefficients)), coefficients.shape)
        if coefficients[i, j] <= SWAP_TOLERANCE:
            break
        gain += float(np.log10(coefficients[i, j]))
        active[j] = rows[i]
        inverse = invert(active)
    return inverse, gain


def greedy_doptimal(
    per_structure: Sequence[Mapping[int, np.ndarray]],
    active_inverse: Mapping[int, np.ndarray],
    n: int,
    min_gamma: float = 1.0,
) -> DOptimalResult:
    """Up to ``n`` structures, each the one of largest gamma against the active set grown by the picks before it.

    ``active_inverse``: per element the inverse active set (pyace's ``.asi`` content). Picking
    stops when the largest remaining gamma is at most ``min_gamma``: those candidates are
    inside what the potential knows, and labelling them would not enlarge the active set.
    """
    inverse = {e: np.array(a, dtype=float) for e, a in active_inverse.items()}
    active = {e: invert(a) for e, a in inverse.items()}
    initial = [_gamma(p, inverse) for p in per_structure]
    remaining = list(range(len(per_structure)))
    order, scores, gains = [], [], []
    stopped = None
    while len(order) < n:
        if not remaining:
            stopped = 'exhausted'
            break
        current = [_gamma(per_structure[i], inverse) for i in remaining]
        best = int(np.argmax(current))
        if current[best] <= min_gamma:
            stopped = 'interpolating'
            break
        pick = remaining.pop(best)
        order.append(pick)
        scores.append(float(current[best]))
        gain = 0.0
        for element, rows in per_structure[pick].items():
            if element in active:
                inverse[element], part = _swap_in(active[element], inverse[element], rows, max_swaps=4 * len(rows))
                gain += part
        gains.append(gain)
    final = [_gamma(p, inverse) for p in per_structure]
    return DOptimalResult(order, scores, initial, final, gains, stopped)


def maxvol_rank(per_structure: Sequence[Mapping[int, np.ndarray]], n: int) -> DOptimalResult:
    """Cold start: MaxVol over every candidate atom; structures holding most rows of the active set first."""
    from pyace.maxvol import maxvol

    rows = [0] * len(per_structure)
    inverse = {}
    for element in sorted({e for p in per_structure for e in p}):
        width = next(p[element].shape[1] for p in per_structure if element in p)
        owners = np.concatenate([np.full(len(p[element]), i) for i, p in enumerate(per_structure) if element in p])
        stacked = _regularised(_stacked(per_structure, element, width))
        if len(stacked) < width:
            raise ValueError(
                f'{len(stacked)} atomic environments among the candidates for {width} basis functions: too few '
                'for an active set'
            )
        selected, _ = maxvol(stacked, tol=SWAP_TOLERANCE, max_iters=1000)
        for owner in owners[selected]:
            rows[int(owner)] += 1
        inverse[element] = invert(stacked[selected])
    ranked = sorted((i for i, r in enumerate(rows) if r > 0), key=lambda i: (-rows[i], i))
    order = ranked[:n]
    final = [_gamma(p, inverse) for p in per_structure]
    stopped = 'exhausted' if len(order) < n else None
    return DOptimalResult(order, [float(rows[i]) for i in order], [None] * len(per_structure), final, [], stopped, rows)


def load_active_inverse(path: str, elements: Sequence[str]) -> dict[int, np.ndarray]:
    """A pyace ``.asi`` file as ``{element index of the basis: inverse active set}``."""
    with np.load(path) as data:
        return {elements.index(name): np.array(data[name]) for name in data.files if name in elements}
