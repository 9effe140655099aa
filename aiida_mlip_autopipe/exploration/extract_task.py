"""The extraction job: ``python -m aiida_mlip_autopipe.exploration.extract_task task.json``.

Cuts the environments of high-gamma atoms out of the uncertain MD frames (periodic boxes,
core and buffer, see :mod:`~aiida_mlip_autopipe.exploration.extraction`), drops
near-duplicates and caps their number. Large frames make this the heaviest bookkeeping of
a generation (neighbour lists and SOAP fingerprints over hundreds of atoms per frame), so it
runs as a job. Each MD trajectory comes as an ``.npz`` file (symbols, positions, cells,
per-atom gamma, steps, pbc); every kept environment goes back as plain numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiida_mlip_autopipe.common.task import run_task

__all__ = ('main', 'read_trajectory', 'write_trajectory')


def write_trajectory(
    path: str | Path, symbols: list[str], positions: Any, cells: Any, gamma: Any, steps: Any, pbc: Any
) -> None:
    """One MD trajectory's frames as ``.npz`` (the job's input format)."""
    np.savez(
        path,
        symbols=np.asarray(symbols, dtype=str),
        positions=np.asarray(positions, dtype=float),
        cells=np.asarray(cells, dtype=float),
        gamma=np.asarray(gamma, dtype=float),
        steps=np.asarray(steps if steps is not None else [], dtype=int),
        pbc=np.asarray(pbc, dtype=bool),
    )


def read_trajectory(path: str | Path) -> list[tuple[Any, np.ndarray, int | None]]:
    """``(atoms, per-atom gamma, MD step)`` for every frame of a file written by :func:`write_trajectory`."""
    from ase import Atoms

    data = np.load(path)
    symbols = [str(s) for s in data['symbols']]
    steps = data['steps'] if len(data['steps']) else None
    pbc = data['pbc'].tolist()
    frames = []
    for index in range(len(data['positions'])):
        atoms = Atoms(symbols=symbols, positions=data['positions'][index], cell=data['cells'][index], pbc=pbc)
        frames.append((atoms, data['gamma'][index], int(steps[index]) if steps is not None else None))
    return frames


def _record(env: Any) -> dict[str, Any]:
    atoms = env.atoms
    return {
        'source': env.source,
        'frame': int(env.frame_index),
        'step': None if env.step is None else int(env.step),
        'mode': env.mode,
        'symbols': atoms.get_chemical_symbols(),
        'positions': atoms.positions.tolist(),
        'cell': atoms.cell.array.tolist(),
        'pbc': [bool(p) for p in atoms.pbc],
        'force_weights': [float(w) for w in env.force_weights],
        'centre_indices': [int(i) for i in env.centre_indices],
        'centre_gamma': [float(g) for g in env.centre_gamma],
        'centres_in_structure': [int(i) for i in env.centres_in_box],
        'source_indices': [int(i) for i in env.source_indices],
        'core_indices': [int(i) for i in np.nonzero(env.core_mask)[0]],
        'removed_at_seam': int(env.removed_at_seam),
        'max_gamma': float(env.max_gamma),
    }


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Environments of every trajectory's frames, selected; with the decisions about the others."""
    from aiida_mlip_autopipe.exploration.environments import select_environments
    from aiida_mlip_autopipe.exploration.extraction import ExtractionSettings, environments_from_frame

    settings = ExtractionSettings.from_dict(task['settings'])
    environments, decisions, n_frames = [], [], 0
    for key, filename in sorted(task['trajectories'].items()):
        for index, (atoms, gamma, step) in enumerate(read_trajectory(folder / filename)):
            found, lines = environments_from_frame(atoms, gamma, settings, frame_index=index, source=key, step=step)
            environments.extend(found)
            decisions.extend(lines)
            n_frames += 1
    selected, dropped = select_environments(environments, settings, int(task['seed']))
    decisions.extend(dropped)
    return {
        'frames': n_frames,
        'environments_found': len(environments),
        'environments': [_record(env) for env in selected],
        'decisions': decisions,
    }


if __name__ == '__main__':
    raise SystemExit(run_task(main))
