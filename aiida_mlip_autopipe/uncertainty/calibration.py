"""Gamma calibration: how well the extrapolation grade predicted the force error it stood for.

When the environments a potential flagged are labelled by DFT, the same potential is
evaluated on them: per atom, its extrapolation grade gamma against its actual force
error. The relation (rank correlation, mean error per gamma bin) says whether gamma is
a trustworthy alarm for this system, and the gamma at which the error crosses a target
is a measured, not guessed, extraction threshold. It runs as a job
(:class:`~aiida_mlip_autopipe.uncertainty.job.CalibrationCalculation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from aiida_mlip_autopipe.common.names import FORCE_WEIGHT_ARRAY
from aiida_mlip_autopipe.uncertainty.scoring import atom_gamma

__all__ = ('calibrate', 'gamma_force_relation', 'threshold_from_relation')


def gamma_force_relation(frames: Sequence[Any], calculator: Any, n_bins: int = 8) -> dict[str, Any]:
    """Per-atom gamma against per-atom force error ``|F_ace - F_dft|`` (eV/Å) on labelled ``frames``.

    Buffer atoms of cut-out environments (force weight below 1) are left out: their
    forces are perturbed by the artificial boundary.
    """
    from scipy.stats import spearmanr

    gammas, errors, per_structure = [], [], []
    for atoms in frames:
        reference = np.asarray(atoms.get_forces())
        probe = atoms.copy()
        probe.calc = calculator
        predicted = np.asarray(probe.get_forces())
        gamma = atom_gamma(calculator, len(atoms))
        weights = atoms.arrays.get(FORCE_WEIGHT_ARRAY)
        core = np.ones(len(atoms), dtype=bool) if weights is None else np.asarray(weights) >= 0.999
        error = np.linalg.norm(predicted - reference, axis=1)
        gammas.extend(gamma[core].tolist())
        errors.extend(error[core].tolist())
        per_structure.append(
            {
                'name': atoms.info.get('name'),
                'source_uuid': atoms.info.get('source_uuid'),
                'max_gamma': float(gamma[core].max()) if core.any() else 0.0,
                'force_rmse': float(np.sqrt(np.mean(error[core] ** 2))) if core.any() else 0.0,
            }
        )
    gammas_a, errors_a = np.asarray(gammas), np.asarray(errors)
    result: dict[str, Any] = {'n_atoms': len(gammas), 'structures': per_structure}
    # Per-component RMSE (meV/Å), as pacemaker reports its force errors.
    result['force_rmse'] = float(1000 * np.sqrt(np.mean(errors_a**2) / 3)) if len(errors) else None
    if len(gammas) < 3 or np.ptp(gammas_a) == 0:
        result.update({'spearman': None, 'bins': []})
        return result
    rho = spearmanr(gammas_a, errors_a).statistic
    result['spearman'] = None if np.isnan(rho) else float(rho)
    low, high = max(float(gammas_a.min()), 1e-3), float(gammas_a.max())
    edges = np.geomspace(low, high, n_bins + 1) if high > low else np.array([low, high])
    bins = []
    for lo, hi in pairwise(edges):
        inside = (gammas_a >= lo) & (gammas_a <= hi)
        if inside.any():
            bins.append(
                {
                    'gamma_low': float(lo),
                    'gamma_high': float(hi),
                    'n': int(inside.sum()),
                    'mean_error': float(errors_a[inside].mean()),
                }
            )
    result['bins'] = bins
    return result


def threshold_from_relation(relation: dict[str, Any], error_target: float) -> float | None:
    """The lowest gamma from which on every bin's mean force error exceeds ``error_target``.

    ``None`` when no bin exceeds the target (gamma never signalled a real error) or the
    relation has no bins.
    """
    bins = relation.get('bins') or []
    above = [b['mean_error'] > error_target for b in bins]
    for i in range(len(bins)):
        if all(above[i:]):
            return float(bins[i]['gamma_low'])
    return None


def calibrate(relation: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The calibration record: ``relation`` plus the measured threshold and the one the next generation uses.

    ``settings``: ``gamma_lower`` (current threshold), ``bounds`` [low, high], ``error_target``
    (eV/Å), ``adjust`` (bool), ``min_spearman`` (optional). With ``adjust`` the threshold moves to
    the measured one, kept within the bounds; otherwise it stays. It also stays when gamma does not
    rank the errors (Spearman below ``min_spearman``, or not measurable): a threshold read off bins
    that gamma does not order is noise, and the next generation's "stable" verdict would rest on it
    (the Si demo once stopped on a threshold measured at Spearman -0.15 from 53 atoms).
    """
    measured = threshold_from_relation(relation, float(settings['error_target']))
    current = float(settings['gamma_lower'])
    low, high = (float(x) for x in settings['bounds'])
    rho, floor = relation.get('spearman'), settings.get('min_spearman')
    trusted = floor is None or (rho is not None and rho >= float(floor))
    adjusted = current
    if settings.get('adjust') and measured is not None and trusted:
        adjusted = float(min(max(measured, low), high))
    return {
        **relation,
        'error_target': float(settings['error_target']),
        'min_spearman': None if floor is None else float(floor),
        'trusted': trusted,
        'gamma_lower_before': current,
        'measured_threshold': measured,
        'gamma_lower_after': adjusted,
        'adjusted': bool(settings.get('adjust')) and adjusted != current,
    }
