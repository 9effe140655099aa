"""Pool-based uncertainty: which unlabelled candidates the current potential extrapolates on.

MD only visits what the current potential makes it visit (usually the thermal crystal),
so strained, sheared or defective candidates of earlier pools would never come back.
Scoring the unlabelled pool with the current potential's extrapolation grade brings back
exactly those the potential does not know yet, at the cost of one pyace evaluation each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

__all__ = ('max_gamma', 'score_uncertainty')


def max_gamma(atoms: Any, calculator: Any) -> float:
    """Largest per-atom extrapolation grade of ``atoms`` under ``calculator`` (pyace with an active set)."""
    probe = atoms.copy()
    probe.calc = calculator
    probe.get_potential_energy()
    gamma = np.asarray(calculator.results.get('gamma', []), dtype=float)
    return float(gamma.max()) if gamma.size else 0.0


@calcfunction
def score_uncertainty(potential: orm.Data, settings: orm.Dict, **structures: Any) -> dict[str, Any]:
    """Max gamma of every candidate under ``potential``; copies of those above ``settings['gamma_threshold']``.

    :returns: ``scores`` (``Dict``: per key its max gamma and whether it is uncertain) and
        ``structures`` (namespace: copies of the uncertain candidates, same keys, carrying
        their ``max_gamma`` as attribute and extra).
    """
    from aiida_mlip_autopipe.candidates.nodes import candidate_structures, copy_candidate

    threshold = float(settings['gamma_threshold'])
    candidates = candidate_structures(structures)
    calculator = potential.get_calculator(active_set=True)
    scores: dict[str, Any] = {}
    uncertain: dict[str, orm.StructureData] = {}
    for key, node in candidates.items():
        gamma = max_gamma(node.get_ase(), calculator)
        scores[key] = {'uuid': node.uuid, 'max_gamma': gamma, 'uncertain': gamma > threshold}
        if gamma > threshold:
            copy = copy_candidate(node, max_gamma=gamma)
            copy.base.extras.set('max_gamma', gamma)
            uncertain[key] = copy
    summary = {
        'gamma_threshold': threshold,
        'n_candidates': len(candidates),
        'n_uncertain': len(uncertain),
        'candidates': scores,
    }
    return {'scores': orm.Dict(summary), 'structures': uncertain}
