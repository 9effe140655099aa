"""The uncertainty jobs: ``python -m aiida_mlip_autopipe.uncertainty.task task.json``.

Three kinds of task (``task['kind']``):

- ``score``: the largest extrapolation grade of every structure (pool reuse), on the current
  potential with its active set;
- ``calibrate``: per-atom gamma against the real force error on newly labelled frames;
- ``evaluate``: energy and force errors of one or more potentials on labelled frames (the
  held-out set), with the potentials' reference energies, so energies compare with DFT.

The potential's files come with the job (``potential/potential.yaml`` and ``.asi``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.common.task import read_structures, run_task

__all__ = ('main',)


def calculator(folder: Path) -> Any:
    """Pyace on the B-basis YAML with its active set: gamma is only available that way."""
    from pyace import PyACECalculator

    calc = PyACECalculator(str(folder / 'potential.yaml'))
    asi = folder / 'potential.asi'
    if not asi.is_file():
        raise FileNotFoundError('the potential has no active set (potential.asi): gamma cannot be computed')
    calc.set_active_set(str(asi))
    return calc


def score(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Max gamma of every structure; above ``settings.gamma_threshold`` it is uncertain."""
    from aiida_mlip_autopipe.uncertainty.scoring import max_gamma

    threshold = float(task['settings']['gamma_threshold'])
    calc = calculator(folder / task['potential'])
    scores = {}
    for key, atoms in read_structures(folder / task['structures']).items():
        gamma = max_gamma(atoms, calc)
        scores[key] = {'max_gamma': gamma, 'uncertain': gamma > threshold}
    return {'gamma_threshold': threshold, 'scores': scores}


def calibrate(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Gamma against |F_ace - F_dft| on the labelled frames, and the threshold that follows."""
    from ase.io import read

    from aiida_mlip_autopipe.uncertainty.calibration import calibrate as record
    from aiida_mlip_autopipe.uncertainty.calibration import gamma_force_relation

    frames = read(str(folder / task['labels']), index=':')
    relation = gamma_force_relation(frames, calculator(folder / task['potential']))
    return {'calibration': record(relation, task['settings'])}


def errors(calc: Any, frames: list[Any], reference: dict[str, float]) -> dict[str, Any]:
    """Energy (meV/atom) and force (meV/Å per component) RMSE of ``calc`` on ``frames``, and per frame."""
    import numpy as np

    energy, forces, per_frame = [], [], []
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = calc
        symbols = atoms.get_chemical_symbols()
        offset = sum(float(reference.get(s, 0.0)) for s in symbols) - float(reference.get('shift', 0.0)) * len(symbols)
        de = (probe.get_potential_energy() + offset - atoms.get_potential_energy()) / len(atoms)
        df = (probe.get_forces() - atoms.get_forces()).ravel()
        energy.append(de)
        forces.append(df)
        per_frame.append(
            {
                'name': atoms.info.get('name'),
                'structure_uuid': atoms.info.get('structure_uuid'),
                'origin': atoms.info.get('origin'),
                'energy_error': 1000 * float(de),
                'force_rmse': 1000 * float(np.sqrt(np.mean(df**2))),
            }
        )
    all_forces = np.concatenate(forces) if forces else np.zeros(0)
    return {
        'n_frames': len(frames),
        'energy_rmse': 1000 * float(np.sqrt(np.mean(np.square(energy)))) if energy else None,
        'force_rmse': 1000 * float(np.sqrt(np.mean(all_forces**2))) if len(all_forces) else None,
        'frames': per_frame,
    }


def evaluate(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Errors of every potential of the task on the labelled frames."""
    from ase.io import read
    from pyace import PyACECalculator

    frames = read(str(folder / task['labels']), index=':')
    results = {}
    for key, entry in sorted(task['potentials'].items()):
        calc = PyACECalculator(str(folder / entry['folder'] / 'potential.yaml'))
        results[key] = errors(calc, frames, entry.get('reference_energy') or {})
    return {'errors': results}


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Dispatch on ``task['kind']``."""
    kinds = {'score': score, 'calibrate': calibrate, 'evaluate': evaluate}
    if task.get('kind') not in kinds:
        raise ValueError(f'unknown uncertainty task kind {task.get("kind")!r}; expected one of {sorted(kinds)}')
    return kinds[task['kind']](task, folder)


if __name__ == '__main__':
    raise SystemExit(run_task(main))
