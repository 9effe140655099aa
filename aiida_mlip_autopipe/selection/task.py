"""The selection job: ``python -m aiida_mlip_autopipe.selection.task task.json`` (see ``common.task``).

SOAP descriptors of every candidate and of the labelled set, then farthest point sampling
from the labelled set: over a large pool this is the expensive part of a generation's
bookkeeping, so it runs as a job on the selection's code, not in the daemon worker.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.common.task import read_structures, run_task

__all__ = ('main',)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Picks (keys in order), their distances to the known set, and every candidate's final distance."""
    from ase.io import read

    from aiida_mlip_autopipe.selection.config import SelectionConfig
    from aiida_mlip_autopipe.selection.descriptors import soap_from_config
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    data = dict(task['settings'])
    species = list(data.pop('species', None) or [])
    settings = SelectionConfig.model_validate(data)
    structures = read_structures(folder / task['structures'])
    frames = read(str(folder / task['labelled']), index=':') if task.get('labelled') else []
    if not species:
        species = sorted(
            {s for atoms in structures.values() for s in atoms.get_chemical_symbols()}
            | {s for atoms in frames for s in atoms.get_chemical_symbols()}
        )
    wanted = settings.n_select if task.get('n') is None else int(task['n'])
    keys = list(structures)
    descriptors = soap_from_config(list(structures.values()), species, settings.descriptor)
    reference = soap_from_config(frames, species, settings.descriptor) if frames else None
    result = farthest_point_sampling(
        descriptors, wanted, reference=reference, seed=int(task['seed']), duplicate_distance=settings.duplicate_distance
    )
    return {
        'order': [keys[int(i)] for i in result.indices],
        'distances': [_finite(d) for d in result.distances.tolist()],
        'remaining': {key: _finite(d) for key, d in zip(keys, result.remaining.tolist(), strict=True)},
        'stopped': result.stopped,
        'n_requested': wanted,
        'n_labelled': len(frames),
        'species': species,
        'n_features': int(descriptors.shape[1]),
    }


if __name__ == '__main__':
    raise SystemExit(run_task(main))
