"""What comes back from an exploration run: the gamma dump and the log (thermo table, halt, errors).

Pure Python (numpy), used by :class:`~aiida_mlip_autopipe.exploration.parser.LammpsParser`; the
same files come from LAMMPS with ML-PACE and from ``mlip-autopipe-lammps``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ('DumpFrame', 'LogResult', 'parse_log', 'read_dump')


@dataclass
class DumpFrame:
    """One frame of a ``dump custom`` file: positions in the LAMMPS frame, per-atom columns."""

    step: int
    cell: np.ndarray
    pbc: tuple[bool, bool, bool]
    columns: dict[str, np.ndarray]

    @property
    def positions(self) -> np.ndarray:
        """Cartesian positions (Å), rows in the order of the dump (sorted by id)."""
        return np.column_stack([self.columns['x'], self.columns['y'], self.columns['z']]).astype(float)


def read_dump(source: str | Path | Iterable[str]) -> list[DumpFrame]:
    """Frames of a LAMMPS ``dump custom`` file (a ``Path``) or text (a ``str``); orthogonal or triclinic boxes.

    Raises ``ValueError`` with the line number on anything malformed (a truncated last
    frame included), so that the parser can report it instead of returning half a frame.
    """
    if isinstance(source, Path):
        lines = source.read_text().splitlines()
    elif isinstance(source, str):
        lines = source.splitlines()
    else:
        lines = [line.rstrip('\n') for line in source]
    frames: list[DumpFrame] = []
    i = 0
    n = len(lines)

    def need(k: int, what: str) -> None:
        if i + k > n:
            raise ValueError(f'dump ends inside a frame at line {n} (expected {what})')

    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        if not lines[i].startswith('ITEM: TIMESTEP'):
            raise ValueError(f'line {i + 1}: expected "ITEM: TIMESTEP", got {lines[i][:60]!r}')
        need(2, 'the timestep')
        step = int(lines[i + 1].split()[0])
        i += 2
        need(2, 'the number of atoms')
        if not lines[i].startswith('ITEM: NUMBER OF ATOMS'):
            raise ValueError(f'line {i + 1}: expected "ITEM: NUMBER OF ATOMS"')
        natoms = int(lines[i + 1])
        i += 2
        need(4, 'the box bounds')
        header = lines[i].split()
        if header[:3] != ['ITEM:', 'BOX', 'BOUNDS']:
            raise ValueError(f'line {i + 1}: expected "ITEM: BOX BOUNDS"')
        triclinic = 'xy' in header
        flags = [f for f in header[3:] if f not in ('xy', 'xz', 'yz')]
        pbc = tuple(f == 'pp' for f in flags) if len(flags) == 3 else (True, True, True)
        bounds = np.array([[float(v) for v in lines[i + k].split()] for k in (1, 2, 3)])
        i += 4
        cell = _cell_from_bounds(bounds, triclinic)
        need(1 + natoms, f'{natoms} atom lines')
        if not lines[i].startswith('ITEM: ATOMS'):
            raise ValueError(f'line {i + 1}: expected "ITEM: ATOMS"')
        names = lines[i].split()[2:]
        rows = [lines[i + 1 + k].split() for k in range(natoms)]
        if any(len(r) != len(names) for r in rows):
            raise ValueError(f'frame at step {step}: an atom line does not have {len(names)} columns')
        i += 1 + natoms
        columns: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            values = [r[k] for r in rows]
            if name in ('element',):
                columns[name] = np.array(values, dtype=object)
            elif name in ('id', 'type'):
                columns[name] = np.array(values, dtype=int)
            else:
                columns[name] = np.array(values, dtype=float)
        if 'id' in columns:
            order = np.argsort(columns['id'], kind='stable')
            columns = {k: v[order] for k, v in columns.items()}
        frames.append(DumpFrame(step=step, cell=cell, pbc=pbc, columns=columns))  # type: ignore[arg-type]
    return frames


def _cell_from_bounds(bounds: np.ndarray, triclinic: bool) -> np.ndarray:
    """Cell rows from dump box bounds (triclinic bounds include the tilt offsets)."""
    if triclinic:
        (xlo_b, xhi_b, xy), (ylo_b, yhi_b, xz), (zlo_b, zhi_b, yz) = bounds
        xlo = xlo_b - min(0.0, xy, xz, xy + xz)
        xhi = xhi_b - max(0.0, xy, xz, xy + xz)
        ylo = ylo_b - min(0.0, yz)
        yhi = yhi_b - max(0.0, yz)
        return np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi_b - zlo_b]], dtype=float)
    lengths = bounds[:, 1] - bounds[:, 0]
    return np.diag(lengths)


@dataclass
class LogResult:
    """What a LAMMPS log says: thermo table, halts, errors, timing, completion."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    halts: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    loops: list[dict[str, float]] = field(default_factory=list)
    finished: bool = False
    version: str | None = None
    last_command: str | None = None

    def series(self, column: str) -> np.ndarray:
        """One thermo column as a float array."""
        index = self.columns.index(column)
        return np.array([row[index] for row in self.rows], dtype=float)


_HALT = re.compile(r'Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)')
_LOOP = re.compile(r'Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms')
_VERSION = re.compile(r'^LAMMPS \((.+)\)')


def parse_log(text: str) -> LogResult:
    """Read a LAMMPS log: thermo rows of every run (steps repeated between runs are kept once).

    Thermo tables start at a header line that begins with ``Step`` and end at ``Loop
    time`` or at the first line that is not a row of numbers (a warning, a halt message
    or an error can interrupt them); rows are accepted only with one value per column,
    so a line cut off by a crash is skipped, not misread.
    """
    result = LogResult()
    lines = text.splitlines()
    in_table = False
    seen_steps: set[int] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if result.version is None:
            match = _VERSION.match(line)
            if match:
                result.version = match.group(1)
        if line.startswith('ERROR'):
            result.errors.append(line)
            # LAMMPS puts the source location and "Last input line:" on the next lines.
            for follow in lines[number : number + 2]:
                if follow.startswith('Last input line:'):
                    result.last_command = follow.split(':', 1)[1].strip()
            in_table = False
            continue
        if line.startswith('WARNING'):
            result.warnings.append(line)
            continue
        match = _HALT.search(line)
        if match:
            result.halts.append({'fix': match.group(1), 'step': int(match.group(2)), 'value': float(match.group(3))})
            continue
        match = _LOOP.search(line)
        if match:
            result.loops.append(
                {
                    'seconds': float(match.group(1)),
                    'procs': int(match.group(2)),
                    'steps': int(match.group(3)),
                    'atoms': int(match.group(4)),
                }
            )
            in_table = False
            continue
        if line.startswith('Total wall time'):
            result.finished = True
            continue
        if line.startswith('Step ') or line == 'Step':
            names = line.split()
            columns = [_thermo_name(n) for n in names]
            if result.columns and result.columns != columns:
                raise ValueError(f'line {number}: a second thermo table has other columns {columns}')
            result.columns = columns
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if len(parts) != len(result.columns):
                continue
            try:
                values = [float(p) for p in parts]
            except ValueError:
                continue
            step = int(values[0])
            if step in seen_steps:
                continue
            seen_steps.add(step)
            result.rows.append(values)
    return result


def _thermo_name(name: str) -> str:
    """LAMMPS thermo header words (Step, Temp, PotEng...) as the keywords of ``thermo_style``."""
    mapping = {
        'Step': 'step',
        'Time': 'time',
        'Temp': 'temp',
        'PotEng': 'pe',
        'KinEng': 'ke',
        'TotEng': 'etotal',
        'Press': 'press',
        'Volume': 'vol',
        'E_pair': 'evdwl',
        'Pxx': 'pxx',
        'Pyy': 'pyy',
        'Pzz': 'pzz',
        'Pxy': 'pxy',
        'Pxz': 'pxz',
        'Pyz': 'pyz',
        'Lx': 'lx',
        'Ly': 'ly',
        'Lz': 'lz',
        'Density': 'density',
        'Enthalpy': 'enthalpy',
        'CPU': 'cpu',
        'Fmax': 'fmax',
        'Fnorm': 'fnorm',
        'Dt': 'dt',
        'Elapsed': 'elapsed',
    }
    return mapping.get(name, name)
