"""The screening job: ``python -m aiida_mlip_autopipe.screening.task task.json`` (see ``common.task``).

Loads the model (a MACE file shipped with the job, a MACE-MP foundation model, CHGNet, or
none for the geometry check alone), evaluates every candidate in batches and writes one
verdict per key. Runs wherever the job's code is: on a GPU node with ``screening.device:
cuda``, MACE batches run there instead of in the daemon worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.common.task import read_structures, run_task

__all__ = ('main',)


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Verdicts of ``task['structures']`` under ``task['model']`` (``{'name': ...}`` or ``{'file': ...}``)."""
    from aiida_mlip_autopipe.screening.backends import load_backend
    from aiida_mlip_autopipe.screening.config import ScreeningConfig
    from aiida_mlip_autopipe.screening.core import screen

    settings = ScreeningConfig.model_validate(task['settings'])
    structures = read_structures(folder / task['structures'])
    model = task['model']
    source = str(folder / model['file']) if 'file' in model else model['name']
    backend = load_backend(source, device=settings.device, batch_size=settings.batch_size)
    references = list(read_structures(folder / task['references']).values()) if task.get('references') else []
    verdicts = screen(
        list(structures.values()),
        backend,
        max_force=settings.max_force,
        energy_window=settings.energy_window,
        min_distance_factor=settings.min_distance_factor,
        energy_above_phase=settings.energy_above_phase,
        references=references,
    )
    description = dict(backend.description) if backend is not None else {'backend': 'none'}
    description.pop('path', None)  # the job folder's path says nothing about the model
    return {
        'model': description,
        'verdicts': {key: verdict.as_dict() for key, verdict in zip(structures, verdicts, strict=True)},
    }


if __name__ == '__main__':
    raise SystemExit(run_task(main))
