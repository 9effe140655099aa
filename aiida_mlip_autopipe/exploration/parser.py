"""Parser of ``LammpsCalculation``: max-gamma series, uncertain frames, halt and blow-up verdicts.

The same files come back from LAMMPS with ML-PACE and from ``mlip-autopipe-lammps``:
``log.lammps`` (thermo table with ``c_max_gamma``, the ``fix halt`` message, errors) and
``gamma.dump`` (frames whose max gamma reached ``gamma_lower``, with per-atom gamma).

A run stopped at its wall-time limit (the scheduler, or the job script's watchdog on
``core.direct``: :mod:`aiida_mlip_autopipe.common.walltime`) exits 403 with its outputs and
``summary.walltime_reached``; the samples before the limit are valid.

A halt on ``gamma_upper`` is a *result* (exit status 0, ``halted: True``): the potential
extrapolates, which is what exploration looks for. A blow-up (lost atoms, non-numeric
coordinates...) is reported with its own exit code, 401, *after* the outputs are attached,
so the active-learning loop can still use the frames dumped before it and count the run
as uncertain rather than crash. A run whose gamma is zero throughout did not load an
active set; its "stable" verdict would be a lie, so it fails with 410.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiida import orm
from aiida.parsers.parser import Parser

from aiida_mlip_autopipe.exploration.lammps_input import COMPUTE_MAX_GAMMA, FIX_HALT, MDSettings
from aiida_mlip_autopipe.exploration.lammps_output import DumpFrame, LogResult, parse_log, read_dump

__all__ = ('UNSTABLE_PATTERNS', 'LammpsParser', 'RunAnalysis', 'analyse_run')

#: LAMMPS (and driver) error messages that mean the dynamics went unphysical.
UNSTABLE_PATTERNS = (
    'Lost atoms',
    'Non-numeric atom coords',
    'Non-numeric pressure',
    'Non-numeric box',
    'Non-numeric temperature',
    'Out of range atoms',
    'Bond atoms missing',
    'Bond/angle/dihedral extent',
    'Neighbor list overflow',
    'Too many neighbor bins',
    'Domain too large for neighbor bins',
    'Too many atoms',
    'simulation unstable',
    'non-finite',
)
_DRIVER_NOTE = re.compile(r'# \[mlip-autopipe-lammps\] (\d+) ACE evaluations, (\S+) ms each')
_UNSUPPORTED = 'unsupported input'


@dataclass
class RunAnalysis:
    """Everything the parser derives from one run's files (pure data, no AiiDA nodes)."""

    summary: dict[str, Any]
    thermo: dict[str, np.ndarray]
    frames: list[DumpFrame] = field(default_factory=list)
    exit_code: str | None = None
    exit_params: dict[str, Any] = field(default_factory=dict)


def analyse_run(log_text: str, dump_text: str | None, settings: MDSettings) -> RunAnalysis:
    """Summary, thermo series, uncertain frames and the exit code name of one exploration MD.

    ``fraction_above_lower``/``fraction_above_upper`` are fractions of the max-gamma samples
    (one per thermo line, step 0 included) that reached each threshold. ``stable`` means: no
    halt, no error, and at most ``settings.stable_fraction`` of the samples reached
    ``gamma_lower``.
    """
    gamma_column = f'c_{COMPUTE_MAX_GAMMA}'
    try:
        log = parse_log(log_text)
    except ValueError as exc:
        return RunAnalysis({}, {}, exit_code='ERROR_LOG_UNPARSABLE', exit_params={'reason': str(exc)})
    error_kind, error_message = _classify_errors(log)
    if error_kind == 'unsupported':
        summary = {'error': error_message, 'error_kind': error_kind, 'steps_run': 0}
        return RunAnalysis(summary, {}, exit_code='ERROR_UNSUPPORTED_INPUT', exit_params={'message': error_message})
    if not log.rows or gamma_column not in log.columns:
        if error_kind is not None:
            code = 'ERROR_SIMULATION_UNSTABLE' if error_kind == 'unstable' else 'ERROR_LAMMPS'
            summary = {
                'error': error_message,
                'error_kind': error_kind,
                'steps_run': 0,
                'blow_up': error_kind == 'unstable',
            }
            return RunAnalysis(summary, {}, exit_code=code, exit_params={'message': error_message, 'step': None})
        reason = 'no thermo rows' if not log.rows else f'no {gamma_column} column in {log.columns}'
        return RunAnalysis({}, {}, exit_code='ERROR_LOG_UNPARSABLE', exit_params={'reason': reason})

    thermo = {name: log.series(name) for name in log.columns}
    steps = thermo['step'].astype(int)
    gamma = thermo[gamma_column]
    user_halts = [h for h in log.halts if h['fix'] == FIX_HALT]
    halted = bool(user_halts)
    halted_at = user_halts[0]['step'] if halted else None
    last_step = int(steps[-1])
    steps_run = sum(int(loop['steps']) for loop in log.loops) if log.loops else last_step
    loop_seconds = sum(loop['seconds'] for loop in log.loops) if log.loops else None
    natoms = log.loops[-1]['atoms'] if log.loops else None
    imax = int(np.argmax(gamma))
    n = len(gamma)
    fraction_lower = float(np.count_nonzero(gamma >= settings.gamma_lower)) / n
    fraction_upper = float(np.count_nonzero(gamma > settings.gamma_upper)) / n
    temps = thermo.get('temp', np.array([]))
    summary: dict[str, Any] = {
        'steps_requested': settings.n_steps,
        'steps_run': steps_run,
        'last_step': last_step,
        'completed': bool(log.finished and error_kind is None and (halted or last_step >= settings.n_steps)),
        'halted': halted,
        'halted_at_step': halted_at,
        'halt_gamma': user_halts[0]['value'] if halted else None,
        'max_gamma': float(gamma[imax]),
        'max_gamma_step': int(steps[imax]),
        'final_max_gamma': float(gamma[-1]),
        'gamma_samples': n,
        'gamma_interval': settings.every,
        'gamma_lower': settings.gamma_lower,
        'gamma_upper': settings.gamma_upper,
        'fraction_above_lower': fraction_lower,
        'fraction_above_upper': fraction_upper,
        'temperature': settings.temperature,
        'temperature_end': settings.t_end,
        'temperature_mean': float(temps.mean()) if temps.size else None,
        'temperature_min': float(temps.min()) if temps.size else None,
        'temperature_max': float(temps.max()) if temps.size else None,
        'n_atoms': natoms,
        'loop_seconds': loop_seconds,
        'ms_per_step': (1e3 * loop_seconds / steps_run) if loop_seconds and steps_run else None,
        'lammps_version': log.version,
        'driver': 'lammps',
        'blow_up': error_kind == 'unstable',
        'error': error_message,
        'error_kind': error_kind,
    }
    note = _DRIVER_NOTE.search(log_text)
    if note:
        summary['driver'] = 'mlip-autopipe-lammps'
        summary['ace_evaluations'] = int(note.group(1))
        summary['ms_per_ace_evaluation'] = float(note.group(2))

    frames: list[DumpFrame] = []
    dump_problem: tuple[str, dict[str, Any]] | None = None
    if dump_text is None:
        if fraction_lower > 0 and error_kind is None:
            dump_problem = ('ERROR_DUMP_MISSING', {})
    else:
        try:
            frames = read_dump(dump_text)
        except ValueError as exc:
            if error_kind is None:
                dump_problem = ('ERROR_DUMP_UNPARSABLE', {'reason': str(exc)})
            # A crash can cut the last frame; keep what was complete.
            frames = _complete_frames(dump_text)
    summary['n_frames_dumped'] = len(frames)
    summary['stable'] = bool(not halted and error_kind is None and fraction_lower <= settings.stable_fraction)

    analysis = RunAnalysis(summary, thermo, frames)
    if error_kind is not None:
        analysis.exit_code = 'ERROR_SIMULATION_UNSTABLE' if error_kind == 'unstable' else 'ERROR_LAMMPS'
        analysis.exit_params = {'message': error_message, 'step': last_step}
    elif not log.finished or not (halted or last_step >= settings.n_steps):
        analysis.exit_code = 'ERROR_OUTPUT_INCOMPLETE'
        analysis.exit_params = {'step': last_step, 'requested': settings.n_steps}
    elif dump_problem is not None:
        analysis.exit_code, analysis.exit_params = dump_problem
    elif np.all(gamma == 0.0):
        analysis.exit_code = 'ERROR_GAMMA_ALWAYS_ZERO'
        analysis.exit_params = {'samples': n}
    return analysis


def _classify_errors(log: LogResult) -> tuple[str | None, str | None]:
    """``('unsupported'|'unstable'|'lammps'|None, message)`` from the log's ERROR lines."""
    if not log.errors:
        return None, None
    # The driver's own line says what really happened (LAMMPS only saw an internal halt).
    ordered = sorted(log.errors, key=lambda e: 'mlip-autopipe-lammps' not in e)
    message = ordered[0]
    if any(_UNSUPPORTED in e for e in log.errors):
        return 'unsupported', next(e for e in log.errors if _UNSUPPORTED in e)
    if any(p in e for e in log.errors for p in UNSTABLE_PATTERNS):
        return 'unstable', message
    return 'lammps', message


def _complete_frames(text: str) -> list[DumpFrame]:
    """The frames before a truncated one."""
    blocks = text.split('ITEM: TIMESTEP')
    frames: list[DumpFrame] = []
    for block in blocks[1:]:
        try:
            frames.extend(read_dump('ITEM: TIMESTEP' + block))
        except ValueError:
            break
    return frames


class LammpsParser(Parser):
    """Turn ``log.lammps`` and ``gamma.dump`` into ``summary``, ``thermo`` and ``uncertain_frames``."""

    def parse(self, **kwargs: Any):
        """Parse the retrieved files; outputs are attached before any error exit code is returned."""
        from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation

        calc = LammpsCalculation
        names = self.retrieved.base.repository.list_object_names()
        if calc.FILENAME_LOG not in names:
            return self.exit_codes.ERROR_NO_LOG_FILE.format(filename=calc.FILENAME_LOG)
        log_text = self.retrieved.base.repository.get_object_content(calc.FILENAME_LOG)
        dump_text = None
        temporary = kwargs.get('retrieved_temporary_folder')
        if temporary is not None:
            from pathlib import Path

            path = Path(temporary) / calc.FILENAME_DUMP
            if path.is_file():
                dump_text = path.read_text()
        if dump_text is None and calc.FILENAME_DUMP in names:
            dump_text = self.retrieved.base.repository.get_object_content(calc.FILENAME_DUMP)
        settings = MDSettings(**self.node.inputs.settings.get_dict())
        analysis = analyse_run(log_text, dump_text, settings)
        from aiida_mlip_autopipe.common.walltime import walltime_reached

        walltime = walltime_reached(self.node, names)
        if analysis.summary:
            analysis.summary['walltime_reached'] = walltime is not None
        if walltime is not None and analysis.exit_code == 'ERROR_OUTPUT_INCOMPLETE':
            analysis.exit_code = 'ERROR_OUT_OF_WALLTIME'
            analysis.exit_params = {**analysis.exit_params, 'reason': walltime}

        if analysis.summary:
            self.out('summary', orm.Dict(analysis.summary))
        if analysis.thermo:
            thermo = orm.ArrayData()
            for name, values in analysis.thermo.items():
                thermo.set_array(_array_name(name), values)
            self.out('thermo', thermo)
        if analysis.frames:
            elements = self.node.inputs.potential.elements
            self.out('uncertain_frames', frames_to_trajectory(analysis.frames, elements, settings.timestep))
        if analysis.exit_code is not None:
            return getattr(self.exit_codes, analysis.exit_code).format(**analysis.exit_params)
        return None


def _array_name(column: str) -> str:
    """ArrayData names must be identifiers: ``c_max_gamma`` becomes ``max_gamma``."""
    name = column[2:] if column.startswith(('c_', 'v_', 'f_')) else column
    return re.sub(r'\W', '_', name)


def frames_to_trajectory(frames: list[DumpFrame], elements: list[str], timestep: float) -> orm.TrajectoryData:
    """A ``TrajectoryData`` of dumped frames with per-atom ``gamma`` and per-frame ``max_gamma`` arrays.

    Positions and cells are in LAMMPS' frame (the input cell rotated so that a lies along
    x); distances and environments are those of the MD.
    """
    first = frames[0]
    if 'element' in first.columns:
        symbols = [str(s) for s in first.columns['element']]
    else:
        symbols = [elements[t - 1] for t in first.columns['type']]
    natoms = len(symbols)
    for frame in frames:
        if len(frame.columns['x']) != natoms:
            raise ValueError(f'frame at step {frame.step} has {len(frame.columns["x"])} atoms, not {natoms}')
    gamma_name = next((name for name in first.columns if name.startswith('f_')), None)
    trajectory = orm.TrajectoryData()
    steps = np.array([f.step for f in frames], dtype=int)
    trajectory.set_trajectory(
        symbols=symbols,
        positions=np.array([f.positions for f in frames]),
        stepids=steps,
        cells=np.array([f.cell for f in frames]),
        times=steps * float(timestep),
        pbc=(True, True, True),
    )
    if gamma_name is not None:
        gamma = np.array([f.columns[gamma_name] for f in frames], dtype=float)
        trajectory.set_array('gamma', gamma)
        trajectory.set_array('max_gamma', gamma.max(axis=1))
    if 'id' in first.columns:
        trajectory.set_array('atom_ids', np.array([f.columns['id'] for f in frames], dtype=int))
    return trajectory
