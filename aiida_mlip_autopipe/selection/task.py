"""The selection job: ``python -m aiida_mlip_autopipe.selection.task task.json`` (see ``common.task``).

Two methods (``settings.method``):

- ``doptimal`` — D-optimality on ACE's B-basis (:mod:`~aiida_mlip_autopipe.selection.doptimal`):
  with the current potential (``task['potential']``), greedy picks of largest gamma against its
  active set; before the first fit, on an untrained basis of the fit settings
  (``settings.basis``): against the active set of the labelled frames when they hold enough
  atoms, else MaxVol over the candidates' atoms.
- ``fps`` — SOAP descriptors of every candidate and of the labelled set, then farthest point
  sampling from the labelled set.

Over a large pool either is the expensive part of a generation's bookkeeping, so it runs as
a job on the selection's code, not in the daemon worker. Every candidate gets a score.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.common.task import read_structures, run_task

__all__ = ('main',)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def fps(settings: Any, species: list[str], structures: dict[str, Any], frames: list[Any], task: dict) -> dict:
    """Farthest point sampling on SOAP from the labelled set."""
    from aiida_mlip_autopipe.selection.descriptors import soap_from_config
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    wanted = settings.n_select if task.get('n') is None else int(task['n'])
    keys = list(structures)
    descriptors = soap_from_config(list(structures.values()), species, settings.descriptor)
    reference = soap_from_config(frames, species, settings.descriptor) if frames else None
    result = farthest_point_sampling(
        descriptors, wanted, reference=reference, seed=int(task['seed']), duplicate_distance=settings.duplicate_distance
    )
    return {
        'method': 'fps',
        'order': [keys[int(i)] for i in result.indices],
        'distances': [_finite(d) for d in result.distances.tolist()],
        'remaining': {key: _finite(d) for key, d in zip(keys, result.remaining.tolist(), strict=True)},
        'stopped': result.stopped,
        'n_requested': wanted,
        'n_features': int(descriptors.shape[1]),
    }


def doptimal(settings: Any, structures: dict[str, Any], frames: list[Any], task: dict, folder: Path) -> dict:
    """D-optimal picks on the current potential, or on an untrained basis before the first fit."""
    from aiida_mlip_autopipe.selection import doptimal as dopt

    wanted = settings.n_select if task.get('n') is None else int(task['n'])
    keys = list(structures)
    if task.get('potential'):
        basis = str(folder / task['potential'] / 'potential.yaml')
        start = 'potential'
    elif task['settings'].get('basis'):
        basis = dopt.untrained_basis(task['settings']['basis'])
        start = 'untrained basis'
    else:
        raise ValueError(
            "method 'doptimal' needs the current potential or settings.basis (the fit's potential section)"
        )
    per_structure, elements = dopt.b_projections(basis, list(structures.values()))
    inverse = None
    if task.get('potential'):
        inverse = dopt.load_active_inverse(str(folder / task['potential'] / 'potential.asi'), elements)
    elif frames:
        labelled, _ = dopt.b_projections(basis, frames)
        active = dopt.active_set_from(labelled)
        if active is not None:
            inverse = {e: dopt.invert(a) for e, a in active.items()}
            start = 'untrained basis, active set of the labelled frames'
    if inverse is not None:
        result = dopt.greedy_doptimal(per_structure, inverse, wanted, min_gamma=settings.min_gamma)
    else:
        result = dopt.maxvol_rank(per_structure, wanted)
        start += ', MaxVol over the candidates (nothing labelled to start from)'
    return {
        'method': 'doptimal',
        'start': start,
        'order': [keys[i] for i in result.order],
        'scores': [_finite(s) for s in result.scores],
        'log_det_gain': [_finite(g) for g in result.log_det_gain],
        'gamma': {key: _finite(g) for key, g in zip(keys, result.initial_gamma, strict=True)},
        'gamma_after': {key: _finite(g) for key, g in zip(keys, result.final_gamma, strict=True)},
        'active_set_rows': None if result.rows is None else dict(zip(keys, result.rows, strict=True)),
        'stopped': result.stopped,
        'n_requested': wanted,
        'elements': elements,
        'n_functions': {elements[e]: int(rows.shape[1]) for p in per_structure for e, rows in p.items()},
    }


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The picks (keys in order) and a score for every candidate."""
    from ase.io import read

    from aiida_mlip_autopipe.selection.config import SelectionConfig

    data = dict(task['settings'])
    species = list(data.pop('species', None) or [])
    data.pop('basis', None)
    settings = SelectionConfig.model_validate(data)
    structures = read_structures(folder / task['structures'])
    frames = read(str(folder / task['labelled']), index=':') if task.get('labelled') else []
    if not species:
        species = sorted(
            {s for atoms in structures.values() for s in atoms.get_chemical_symbols()}
            | {s for atoms in frames for s in atoms.get_chemical_symbols()}
        )
    if settings.method == 'doptimal':
        result = doptimal(settings, structures, frames, task, folder)
    else:
        result = fps(settings, species, structures, frames, task)
    return {**result, 'n_labelled': len(frames), 'species': species}


if __name__ == '__main__':
    raise SystemExit(run_task(main))
