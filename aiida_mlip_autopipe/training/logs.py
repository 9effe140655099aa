"""What pacemaker and its two follow-up tools leave behind, read without AiiDA.

Pure functions on the texts of ``aiida_steps.txt``, ``log.txt``, ``pacemaker.out``/``.err``,
``metrics.txt`` and the follow-ups' logs, so every rule of :class:`~aiida_mlip_autopipe.training.parser.PacemakerParser`
is tested on captured outputs without a node.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import numpy as np

__all__ = (
    'DATASET_MARKERS',
    'ENERGY_UNIT',
    'FORCE_UNIT',
    'OUT_OF_MEMORY_MARKERS',
    'active_set_metrics',
    'classify_failure',
    'finite_or_none',
    'fit_metrics',
    'last_exception',
    'nonfinite_reason',
    'parse_final_errors',
    'parse_learning_table',
    'parse_steps',
    'startup_seconds',
    'to_float',
)

_TIMESTAMP = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ')
_OPTIMIZATION = re.compile(
    r'Optimization result\(success=(True|False), status=(-?\d+), message=(.*?), nfev=(\d+), njev=(\d+)\)'
)
_BLOCK_HEADER = re.compile(r'^-+(TEST )?Cycle last iteration:-+\s*$')
_ERROR_ROW = re.compile(r'^\s*(RMSE|MAE|MAX_AE):\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$')
_PARAMS = re.compile(r'Number of params\./funcs:\s+(\d+)/(\d+)')
_DATASET = re.compile(r'(Fitting|Test) dataset size: (\d+) structures / (\d+) atoms')
_ITERATIONS = re.compile(r'^\s*Iterations:\s+(\d+)', re.MULTILINE)
_FIT_TOOK = re.compile(r'Fitting took\s+([\d.eE+-]+) seconds')
_UPFIT = re.compile(r"Target potential loaded from file '([^']+)', it contains (\d+) functions")
_LADDER = re.compile(r'Initial potential provided: (\S+), it contains (\d+) functions')
_ACTIVE_SET = re.compile(r'Element: (\w+), Active set inv\. shape: \((\d+), (\d+)\), gamma_max: (\S+)')

#: Text that means the process could not get memory (C++ allocator, Python, TensorFlow, kernel/scheduler).
OUT_OF_MEMORY_MARKERS = (
    'std::bad_alloc',
    'MemoryError',
    'ResourceExhaustedError',
    'OOM when allocating',
    'Cannot allocate memory',
    'oom-kill',
    'oom_kill',
    'Out Of Memory',
    'out of memory',
)
#: Messages pyace raises for a data set it cannot fit (checked in the final exception line).
DATASET_MARKERS = (
    'Dataframe is corrupted',
    'not found in dataset',
    'has wrong shape',
    'contains NaN',
    "Couldn't operate with empty dataset",
    'No files to load',
    'Dataset filename is not provided',
    "Neither 'energy_corrected'",
    'Unsupported data::reference_energy',
    'not in dataframe',
    'UnpicklingError',
    'BadGzipFile',
    'Not a gzipped file',
)
#: Exit statuses of a process stopped from outside.
SIGNAL_EXITS = {124: 'timeout', 130: 'SIGINT', 134: 'SIGABRT', 137: 'SIGKILL', 143: 'SIGTERM'}

ENERGY_UNIT = 'meV/atom'
FORCE_UNIT = 'meV/Angstrom (per Cartesian component)'


def to_float(text: str) -> float:
    """``float(text)``, or NaN where pacemaker printed something else."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def finite_or_none(value: float | None) -> float | None:
    """``value`` when finite, else ``None`` (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


def parse_steps(text: str) -> dict[str, dict[str, Any]]:
    """Start/end (epoch seconds), wall time and exit status per step of the job script."""
    steps: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] not in ('start', 'end'):
            continue
        step = steps.setdefault(parts[0], {})
        step[parts[1]] = to_float(parts[2])
        if parts[0] == 'pacemaker' and len(parts) >= 5:
            step[f'{parts[1]}_local'] = f'{parts[3]} {parts[4]}'
        if parts[1] == 'end' and len(parts) in (4, 6):
            status = parts[-1]
            step['exit_status'] = int(status) if status.lstrip('-').isdigit() else None
    for step in steps.values():
        if 'start' in step and 'end' in step:
            step['wall_time'] = step['end'] - step['start']
    return steps


def parse_final_errors(log: str) -> dict[str, dict[str, float]]:
    """Errors of the last train and test "Cycle last iteration" blocks of a pacemaker log.

    Returns ``{'train': {...}, 'test': {...}}`` with ``energy_rmse``, ``energy_mae``,
    ``energy_max_error`` (meV/atom), ``force_rmse``, ``force_mae``,
    ``force_max_error`` (meV/Å per component), ``number_of_parameters`` and
    ``number_of_functions``.
    """
    found: dict[str, dict[str, float]] = {}
    lines = log.splitlines()
    for index, line in enumerate(lines):
        header = _BLOCK_HEADER.match(line)
        if not header:
            continue
        kind = 'test' if header.group(1) else 'train'
        block: dict[str, float] = {}
        for follow in lines[index + 1 : index + 16]:
            params = _PARAMS.search(follow)
            if params:
                block['number_of_parameters'] = int(params.group(1))
                block['number_of_functions'] = int(params.group(2))
            row = _ERROR_ROW.match(follow)
            if row:
                name = {'RMSE': 'rmse', 'MAE': 'mae', 'MAX_AE': 'max_error'}[row.group(1)]
                block[f'energy_{name}'] = to_float(row.group(2))
                block[f'force_{name}'] = to_float(row.group(4))
                if name == 'max_error':
                    break
        found[kind] = block
    return found


def parse_learning_table(text: str) -> dict[str, np.ndarray]:
    """Columns of pacemaker's whitespace table ``metrics.txt``/``test_metrics.txt`` as float arrays."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    columns: dict[str, list[float]] = {name: [] for name in header}
    for row in body:
        if len(row) != len(header):
            continue  # a line cut short by an interrupted job
        for name, value in zip(header, row):
            columns[name].append(to_float(value))
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def last_exception(text: str) -> str | None:
    """The final ``Error: message`` line of the last Python traceback in ``text``."""
    position = text.rfind('Traceback (most recent call last):')
    if position < 0:
        return None
    for line in text[position:].splitlines()[1:]:
        if line and not line.startswith((' ', '\t')) and ':' in line:
            return line.strip()
    return None


def classify_failure(
    *, stderr: str, log: str, scheduler_stderr: str, exit_status: int | None, finished: bool
) -> tuple[str, str] | None:
    """``(exit code label, reason)`` for a pacemaker run that did not produce a fit, or None.

    A run that logged "Fitting done" and exited with status 0 (or an unknown status) is
    no failure, whatever warnings and caught tracebacks it printed on the way.
    """
    if finished and exit_status in (0, None):
        return None
    for marker in OUT_OF_MEMORY_MARKERS:
        for text in (stderr, log, scheduler_stderr):
            if marker in text:
                line = next(line for line in text.splitlines() if marker in line).strip()
                return 'ERROR_OUT_OF_MEMORY', f'{line[:300]} (exit status {exit_status})'
    exception = last_exception(stderr) or last_exception(log)
    if exception is not None:
        traceback = stderr[stderr.rfind('Traceback (most recent call last):') :]
        if any(marker in exception for marker in DATASET_MARKERS) or 'preparedata.py' in traceback:
            return 'ERROR_CORRUPTED_DATASET', exception[:500]
        return 'ERROR_PACEMAKER_FAILED', exception[:500]
    if not finished:
        signal = SIGNAL_EXITS.get(exit_status or 0)
        killed = f'stopped by {signal}' if signal else 'stopped without an error message'
        last = [line.strip() for line in log.splitlines() if line.strip()]
        where = f'last log line: {last[-1][:200]}' if last else 'empty log'
        shell = [line.strip() for line in scheduler_stderr.splitlines() if line.strip()]
        if shell:
            where += f'; job script: {shell[-1][:200]}'
        return 'ERROR_PACEMAKER_INTERRUPTED', f'{killed} (wall-time limit, kill or crash); {where}'
    return None


def _log_time(line: str) -> datetime | None:
    match = _TIMESTAMP.match(line)
    if not match:
        return None
    return datetime.strptime(f'{match.group(1)}.{match.group(2)}', '%Y-%m-%d %H:%M:%S.%f')


def fit_metrics(log: str, stdout: str, steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Errors, data-set sizes, optimizer result, warm start and timings of one fit, from its log and stdout."""
    metrics: dict[str, Any] = {'energy_unit': ENERGY_UNIT, 'force_unit': FORCE_UNIT}
    errors = parse_final_errors(log)
    metrics['errors_available'] = sorted(errors)
    for kind, block in errors.items():
        for key, value in block.items():
            if key.startswith(('energy_', 'force_')):
                metrics[f'{kind}_{key}'] = value if math.isfinite(value) else None
    train = errors.get('train', {})
    if 'number_of_functions' in train:
        metrics['number_of_functions'] = int(train['number_of_functions'])
        metrics['number_of_parameters'] = int(train['number_of_parameters'])
    for kind, structures, atoms in _DATASET.findall(log):
        prefix = 'train' if kind == 'Fitting' else 'test'
        metrics[f'{prefix}_structures'] = int(structures)
        metrics[f'{prefix}_atoms'] = int(atoms)

    results = _OPTIMIZATION.findall(log)
    iterations = [int(n) for n in _ITERATIONS.findall(stdout)]
    metrics['iterations'] = sum(iterations) if iterations else None
    metrics['optimizer_runs'] = len(results)
    if results:
        success, status, message, _, _ = results[-1]
        metrics['converged'] = success == 'True'
        metrics['optimizer_status'] = int(status)
        metrics['optimizer_message'] = message
        metrics['function_evaluations'] = sum(int(r[3]) for r in results)
    fit_took = _FIT_TOOK.findall(stdout)
    metrics['fit_seconds'] = sum(float(t) for t in fit_took) if fit_took else None

    upfit, ladder = _UPFIT.search(log), _LADDER.search(log)
    loaded = upfit or ladder
    metrics['warm_start'] = 'upfit' if upfit else ('ladder' if ladder else None)
    metrics['initial_potential_functions'] = int(loaded.group(2)) if loaded else None

    for name in ('pacemaker', 'pace_yaml2yace', 'pace_activeset'):
        wall = steps.get(name, {}).get('wall_time')
        metrics[f'{name}_wall_seconds'] = round(wall, 3) if wall is not None else None
    ends = [s['end'] for s in steps.values() if 'end' in s]
    if 'start' in steps.get('pacemaker', {}) and ends:
        metrics['wall_seconds'] = round(max(ends) - steps['pacemaker']['start'], 3)
    metrics['startup_seconds'] = startup_seconds(log, steps)
    return metrics


def startup_seconds(log: str, steps: dict[str, dict[str, Any]]) -> float | None:
    """Seconds from the job's start to pacemaker's first loss evaluation (imports, TensorFlow, tracing)."""
    start_local = steps.get('pacemaker', {}).get('start_local')
    if not start_local:
        return None
    try:
        start = datetime.strptime(start_local[:26], '%Y-%m-%d %H:%M:%S.%f')
    except ValueError:
        return None
    for line in log.splitlines():
        if 'Initial state:' in line:
            when = _log_time(line)
            return round((when - start).total_seconds(), 3) if when else None
    return None


def nonfinite_reason(metrics: dict[str, Any], loss: float, potential_text: str) -> str | None:
    """Why a fit that wrote a potential diverged (NaN or inf in the optimizer, loss, errors, coefficients), or None."""
    if metrics.get('optimizer_message', '').startswith('NaN result'):
        return f'optimizer stopped: {metrics["optimizer_message"]} (after {metrics.get("iterations")} iterations)'
    if not math.isfinite(loss):
        return f'final loss is {loss}'
    for key in ('train_energy_rmse', 'train_force_rmse'):
        if key in metrics and metrics[key] is None:
            return f'{key} is not finite'
    if re.search(r'[-\s\[,](\.?nan|\.?inf)\b', potential_text, re.IGNORECASE):
        return 'the potential has non-finite coefficients'
    return None


def active_set_metrics(metrics: dict[str, Any], text: str) -> None:
    """Add the active-set size and largest gamma per element of ``pace_activeset``'s log ``text`` to ``metrics``."""
    sizes, gammas = {}, {}
    for element, rows, _, gamma in _ACTIVE_SET.findall(text):
        sizes[element] = int(rows)
        gammas[element] = finite_or_none(to_float(gamma))
    if sizes:
        metrics['active_set_size'] = sizes
        metrics['active_set_gamma_max'] = gammas
