"""The uncertainty jobs: ``python -m aiida_mlip_autopipe.uncertainty.task task.json``.

Two kinds of task (``task['kind']``), both on the current potential with its active set:

- ``score``: the largest extrapolation grade of every structure (pool reuse);
- ``calibrate``: per-atom gamma against the real force error on newly labelled frames.

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


def main(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Dispatch on ``task['kind']``."""
    kinds = {'score': score, 'calibrate': calibrate}
    if task.get('kind') not in kinds:
        raise ValueError(f'unknown uncertainty task kind {task.get("kind")!r}; expected one of {sorted(kinds)}')
    return kinds[task['kind']](task, folder)


if __name__ == '__main__':
    raise SystemExit(run_task(main))
