"""Pool-based uncertainty: which unlabelled candidates the current potential extrapolates on.

MD only visits what the current potential makes it visit (usually the thermal crystal),
so strained, sheared or defective candidates of earlier pools would never come back.
Scoring the unlabelled pool with the current potential's extrapolation grade brings back
exactly those the potential does not know yet, at the cost of one pyace evaluation each.
The scoring runs as a job (:class:`~aiida_mlip_autopipe.uncertainty.job.ScoringCalculation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ('MissingGammaError', 'atom_gamma', 'max_gamma')


class MissingGammaError(ValueError):
    """The calculator gave no extrapolation grade: without it nothing can be called certain or uncertain."""


def atom_gamma(calculator: Any, n_atoms: int) -> np.ndarray:
    """Per-atom gamma of the last evaluation of ``calculator``; an error, never zeros, when it is missing."""
    gamma = calculator.results.get('gamma')
    if gamma is None:
        raise MissingGammaError(
            'the potential gave no extrapolation grade (gamma): load it with its active set (.asi) and the '
            'B-basis YAML, not the .yace file'
        )
    gamma = np.asarray(gamma, dtype=float).reshape(-1)
    if gamma.shape != (n_atoms,) or not np.all(np.isfinite(gamma)):
        raise MissingGammaError(f'gamma has shape {gamma.shape} for {n_atoms} atoms or is not finite')
    return gamma


def max_gamma(atoms: Any, calculator: Any) -> float:
    """Largest per-atom extrapolation grade of ``atoms`` under ``calculator`` (pyace with an active set)."""
    probe = atoms.copy()
    probe.calc = calculator
    probe.get_potential_energy()
    return float(atom_gamma(calculator, len(atoms)).max()) if len(atoms) else 0.0
