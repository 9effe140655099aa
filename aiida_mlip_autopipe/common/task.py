"""The job side of a stage job: ``python -m aiida_mlip_autopipe.<stage>.task task.json``.

A stage job (:class:`~aiida_mlip_autopipe.common.stage_job.StageCalculation`) writes its
inputs into a folder — ``task.json`` with the settings and the names of the other files,
the structures as one extended-XYZ file keyed by ``info['key']`` — and runs a module's
``main(task, folder)`` there, on whatever computer the code lives on (a GPU node for a
MACE model, a compute node for SOAP over a large pool). Nothing here imports AiiDA: the
job needs only the stage's pure core and the ML packages it uses.

``main`` returns a JSON-compatible dict; :func:`run_task` writes it to ``result.json``
with the job's wall time and peak memory, or, when ``main`` raises, writes the error and
its traceback there and exits with status 1, so the parser can say what went wrong.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = (
    'FILENAME_RESULT',
    'FILENAME_STRUCTURES',
    'FILENAME_TASK',
    'read_structures',
    'run_task',
    'write_structures',
)

FILENAME_TASK = 'task.json'
FILENAME_STRUCTURES = 'structures.extxyz'
FILENAME_RESULT = 'result.json'
#: ``info`` key of each frame in ``structures.extxyz``: the link key of its input node.
KEY = 'key'


def write_structures(path: str | Path, structures: Mapping[str, Any]) -> Path:
    """Write ``{key: Atoms}`` as one extended-XYZ file, each frame tagged with its key."""
    from ase.io import write

    frames = []
    for key, atoms in structures.items():
        frame = atoms.copy()
        frame.calc = None
        frame.info = {KEY: str(key)}
        frames.append(frame)
    path = Path(path)
    write(str(path), frames, format='extxyz')
    return path


def read_structures(path: str | Path) -> dict[str, Any]:
    """``{key: Atoms}`` from a file written by :func:`write_structures`, in file order."""
    from ase.io import read

    frames = read(str(path), index=':', format='extxyz')
    out: dict[str, Any] = {}
    for index, atoms in enumerate(frames):
        key = str(atoms.info.get(KEY, f'frame{index:05d}'))
        if key in out:
            raise ValueError(f'{path}: key {key!r} appears twice')
        atoms.info = {}
        out[key] = atoms
    return out


def _peak_memory_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def run_task(main: Callable[[dict[str, Any], Path], dict[str, Any]], argv: Sequence[str] | None = None) -> int:
    """Run ``main`` on the task file named in ``argv`` and write ``result.json`` next to it; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    task_file = Path(args[0] if args else FILENAME_TASK).resolve()
    folder = task_file.parent
    started = time.time()
    try:
        task = json.loads(task_file.read_text(encoding='utf-8'))
        result = dict(main(task, folder))
        result['job'] = {'seconds': round(time.time() - started, 3), 'peak_memory_mb': _peak_memory_mb()}
        # NaN and infinity are not JSON: a result holding one is a bug of the stage, reported as such.
        text = json.dumps(result, indent=1, allow_nan=False, default=_json_default)
        status = 0
    except Exception as exc:
        result = {
            'error': f'{type(exc).__name__}: {exc}',
            'traceback': traceback.format_exc(),
            'job': {'seconds': round(time.time() - started, 3), 'peak_memory_mb': _peak_memory_mb()},
        }
        text = json.dumps(result, indent=1)
        status = 1
    temporary = folder / (FILENAME_RESULT + '.tmp')
    temporary.write_text(text + '\n', encoding='utf-8')
    temporary.replace(folder / FILENAME_RESULT)
    if status:
        print(result['traceback'], file=sys.stderr)
    return status


def _json_default(value: Any) -> Any:
    """Numpy scalars and arrays in results (``main`` should return plain types; this is a safety net)."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f'{type(value).__name__} is not JSON serialisable')
