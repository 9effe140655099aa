"""LAMMPS files of an exploration run: MD settings, data file, input script, log and dump readers.

Pure Python (numpy, pydantic), shared by :class:`~aiida_mlip_autopipe.calculations.lammps.LammpsCalculation`
(which writes the files), :mod:`~aiida_mlip_autopipe.exploration.lammps_driver` (which runs them
on machines without ML-PACE) and :class:`~aiida_mlip_autopipe.parsers.lammps.LammpsParser` (which
reads what came back). Keeping writer and readers side by side means the names that tie them
together (the gamma fix, the max-gamma compute, the halt fix, the dump columns) are defined once.

The input script is the production form for a LAMMPS built with ML-PACE::

    pair_style      pace/extrapolation
    pair_coeff      * * potential.yaml potential.asi Si
    fix             pace_gamma all pair 10 pace/extrapolation gamma 1
    compute         max_gamma all reduce max f_pace_gamma
    variable        dump_skip equal "c_max_gamma < 2.0"
    dump            gamma_dump all custom 10 gamma.dump id type element x y z f_pace_gamma
    dump_modify     gamma_dump skip v_dump_skip ...
    fix             halt all halt 10 v_max_gamma > 10.0 error continue

``pair_style pace/extrapolation`` reads the B-basis ``.yaml`` (not the ``.yace``): the active
set is defined on B-basis projections, and LAMMPS' documentation gives
``pair_coeff * * Cu.yaml Cu.asi Cu``.

Extrapolation grades exist only on steps that are multiples of the ``fix pair`` interval
(LAMMPS refuses ``f_pace_gamma`` at other steps: "not computed at compatible time"), so the
thermo interval, the dump interval and the number of steps must all be multiples of it;
:class:`MDSettings` checks this before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = (
    'COMPUTE_MAX_GAMMA',
    'DUMP_GAMMA',
    'FIX_GAMMA',
    'FIX_HALT',
    'THERMO_COLUMNS',
    'DumpFrame',
    'LogResult',
    'MDSettings',
    'lammps_cell',
    'parse_log',
    'read_dump',
    'write_data_file',
    'write_input_script',
)

#: IDs used in the input script; the parser and the driver rely on them.
FIX_GAMMA = 'pace_gamma'
COMPUTE_MAX_GAMMA = 'max_gamma'
FIX_HALT = 'halt'
DUMP_GAMMA = 'gamma_dump'
#: Thermo keywords of the script, in order; ``c_max_gamma`` is the max-gamma series.
THERMO_COLUMNS = ('step', 'time', 'temp', 'pe', 'ke', 'etotal', 'press', 'vol', f'c_{COMPUTE_MAX_GAMMA}')

#: Largest seed LAMMPS' Marsaglia generator (fix langevin) accepts.
MAX_LAMMPS_SEED = 900_000_000


class MDSettings(BaseModel):
    """What one exploration MD does; the content of the ``settings`` ``Dict`` of a ``LammpsCalculation``.

    Units are LAMMPS ``metal``: K, bar, ps. Built by
    :meth:`aiida_mlip_autopipe.config.ExplorationConfig.md_settings` from the run's config.
    """

    model_config = ConfigDict(extra='forbid')

    ensemble: Literal['nvt', 'npt'] = Field(default='nvt', description='Constant volume or constant pressure.')
    thermostat: Literal['nose-hoover', 'langevin'] = Field(
        default='nose-hoover',
        description='Nosé-Hoover chains (fix nvt/npt) or Langevin (fix langevin on top of fix nve/nph); '
        'Langevin samples small cells more ergodically.',
    )
    temperature: float = Field(gt=0, le=20000, description='Temperature in K (start of the ramp if temperature_end).')
    temperature_end: float | None = Field(
        default=None, gt=0, le=20000, description='Temperature in K at the end of a linear ramp; None: constant.'
    )
    pressure: float = Field(default=0.0, ge=-1e6, le=1e7, description='Pressure in bar (npt only).')
    pressure_coupling: Literal['iso', 'aniso', 'tri'] = Field(
        default='iso', description='Barostat coupling of the cell (npt only): iso, aniso or full triclinic.'
    )
    timestep: float = Field(default=0.001, gt=0, le=0.01, description='Time step in ps.')
    n_steps: int = Field(default=2000, ge=1, le=100_000_000, description='MD steps.')
    thermo_interval: int = Field(default=10, ge=1, description='Steps between thermo lines (the max-gamma series).')
    dump_interval: int = Field(
        default=10, ge=1, description='Steps between candidate dumps (only when max gamma >= gamma_lower).'
    )
    gamma_interval: int | None = Field(
        default=None, ge=1, description='Steps between extrapolation-grade evaluations; default gcd(thermo, dump).'
    )
    gamma_lower: float = Field(default=2.0, gt=0, description='Frames with max gamma >= this are dumped.')
    gamma_upper: float = Field(default=10.0, gt=0, description='The run halts when max gamma > this.')
    seed: int = Field(default=12345, ge=1, le=MAX_LAMMPS_SEED, description='Seed of velocities and Langevin noise.')
    tdamp: float | None = Field(default=None, gt=0, description='Thermostat damping time in ps; default 100 steps.')
    pdamp: float | None = Field(default=None, gt=0, description='Barostat damping time in ps; default 1000 steps.')
    stable_fraction: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description='The run counts as stable when it did not halt and at most this fraction of gamma samples '
        'reached gamma_lower.',
    )

    @model_validator(mode='after')
    def _consistent(self) -> MDSettings:
        if self.gamma_lower >= self.gamma_upper:
            raise ValueError(f'gamma_lower ({self.gamma_lower}) must be below gamma_upper ({self.gamma_upper})')
        every = self.every
        for name in ('thermo_interval', 'dump_interval', 'n_steps'):
            value = getattr(self, name)
            if value % every:
                raise ValueError(
                    f'{name} ({value}) must be a multiple of gamma_interval ({every}): LAMMPS has extrapolation '
                    'grades only on those steps'
                )
        return self

    @property
    def every(self) -> int:
        """Steps between gamma evaluations (``fix pair`` interval, halt check interval)."""
        return self.gamma_interval or math.gcd(self.thermo_interval, self.dump_interval)

    @property
    def t_end(self) -> float:
        """Temperature at the end of the run in K."""
        return self.temperature if self.temperature_end is None else self.temperature_end

    @property
    def damping(self) -> tuple[float, float]:
        """Thermostat and barostat damping times in ps."""
        return (self.tdamp or 100 * self.timestep, self.pdamp or 1000 * self.timestep)


def lammps_cell(cell: np.ndarray) -> np.ndarray:
    """The LAMMPS form (rows a, b, c; a along x, b in the xy plane) of a right-handed cell.

    LAMMPS triclinic boxes are lower triangular; the structure is rotated rigidly into
    that frame, which leaves every distance and angle, and so every energy, unchanged.
    """
    cell = np.asarray(cell, dtype=float)
    if cell.shape != (3, 3) or abs(np.linalg.det(cell)) < 1e-8:
        raise ValueError('the cell must be a full 3×3 cell with non-zero volume')
    if np.linalg.det(cell) < 0:
        raise ValueError('the cell is left-handed; LAMMPS needs a right-handed cell (swap two cell vectors)')
    a, b, c = cell
    ax = np.linalg.norm(a)
    ahat = a / ax
    bx = float(b @ ahat)
    by = float(np.linalg.norm(np.cross(ahat, b)))
    cx = float(c @ ahat)
    cy = float((b @ c - bx * cx) / by)
    cz = float(math.sqrt(max(c @ c - cx * cx - cy * cy, 0.0)))
    return np.array([[ax, 0.0, 0.0], [bx, by, 0.0], [cx, cy, cz]])


def write_data_file(
    symbols: Sequence[str],
    positions: np.ndarray,
    cell: np.ndarray,
    elements: Sequence[str],
    triclinic: bool | None = None,
    title: str = 'written by aiida-mlip-autopipe',
) -> str:
    """A LAMMPS ``atom_style atomic`` data file; atom types follow the order of ``elements``.

    Every element of the potential gets a type (and a mass) even when absent from this
    structure, so that ``pair_coeff * * ... <elements>`` is the same for every structure
    explored with one potential. ``triclinic=None`` writes the tilt line only when the
    cell is not orthogonal.
    """
    from ase.data import atomic_masses, atomic_numbers

    unknown = sorted(set(symbols) - set(elements))
    if unknown:
        raise ValueError(f'structure has {unknown}, which the potential (elements {list(elements)}) does not know')
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    box = lammps_cell(cell)
    frac = np.linalg.solve(cell.T, positions.T).T
    frac = frac - np.floor(frac)
    frac[np.isclose(frac, 1.0, atol=1e-12)] = 0.0
    cart = frac @ box
    tilt = (box[1, 0], box[2, 0], box[2, 1])
    if triclinic is None:
        triclinic = any(abs(t) > 1e-10 for t in tilt)
    types = {el: i + 1 for i, el in enumerate(elements)}
    lines = [
        f'# {title}',
        '',
        f'{len(symbols)} atoms',
        f'{len(elements)} atom types',
        '',
        f'0.0 {box[0, 0]:.10f} xlo xhi',
        f'0.0 {box[1, 1]:.10f} ylo yhi',
        f'0.0 {box[2, 2]:.10f} zlo zhi',
    ]
    if triclinic:
        lines.append(f'{_fmt(tilt[0])} {_fmt(tilt[1])} {_fmt(tilt[2])} xy xz yz')
    lines += ['', 'Masses', '']
    for el in elements:
        lines.append(f'{types[el]} {atomic_masses[atomic_numbers[el]]:.6f}  # {el}')
    lines += ['', 'Atoms  # atomic', '']
    for index, (sym, xyz) in enumerate(zip(symbols, cart, strict=True), start=1):
        lines.append(f'{index} {types[sym]} {_fmt(xyz[0])} {_fmt(xyz[1])} {_fmt(xyz[2])}')
    return '\n'.join(lines) + '\n'


def _fmt(value: float) -> str:
    text = f'{value:.10f}'
    return '0.0000000000' if text == '-0.0000000000' else text


def write_input_script(
    settings: MDSettings,
    elements: Sequence[str],
    data_file: str = 'structure.data',
    potential_yaml: str = 'potential.yaml',
    active_set: str = 'potential.asi',
    dump_file: str = 'gamma.dump',
) -> str:
    """The LAMMPS input of an exploration MD with extrapolation-grade monitoring (ML-PACE form).

    What each block is for:

    * ``fix pace_gamma ... pair N pace/extrapolation gamma 1``: per-atom gamma every N steps;
    * ``compute max_gamma ... reduce max f_pace_gamma``: the per-frame maximum, printed in thermo;
    * dumps every ``dump_interval`` steps, skipped while max gamma < ``gamma_lower``: only
      uncertain frames are written, with per-atom gamma;
    * ``fix halt ... v_max_gamma > gamma_upper error continue``: stops the run (but not the
      script) when the potential extrapolates wildly, before the trajectory turns unphysical.
    """
    every = settings.every
    tdamp, pdamp = settings.damping
    t0, t1 = settings.temperature, settings.t_end
    species = ' '.join(elements)
    out = [
        '# aiida-mlip-autopipe exploration MD: ACE potential with extrapolation-grade (gamma) monitoring.',
        '# Needs LAMMPS with ML-PACE (pair_style pace/extrapolation), or the mlip-autopipe-lammps driver.',
        'units           metal',
        'atom_style      atomic',
        'atom_modify     map array',
        'boundary        p p p',
        f'read_data       {data_file}',
        '',
        'pair_style      pace/extrapolation',
        f'pair_coeff      * * {potential_yaml} {active_set} {species}',
        '',
        f'# Extrapolation grade every {every} steps; thermo, dumps and the halt check use those steps only.',
        f'fix             {FIX_GAMMA} all pair {every} pace/extrapolation gamma 1',
        f'compute         {COMPUTE_MAX_GAMMA} all reduce max f_{FIX_GAMMA}',
        f'variable        max_gamma equal c_{COMPUTE_MAX_GAMMA}',
        f'variable        dump_skip equal "c_{COMPUTE_MAX_GAMMA} < {settings.gamma_lower!r}"',
        '',
        'neighbor        1.0 bin',
        'neigh_modify    every 1 delay 0 check yes',
        f'timestep        {settings.timestep!r}',
        f'velocity        all create {t0!r} {settings.seed} dist gaussian mom yes rot no',
    ]
    if settings.ensemble == 'nvt':
        if settings.thermostat == 'nose-hoover':
            out.append(f'fix             md all nvt temp {t0!r} {t1!r} {tdamp!r}')
        else:
            out.append('fix             md all nve')
            out.append(f'fix             thermostat all langevin {t0!r} {t1!r} {tdamp!r} {settings.seed} zero yes')
    else:
        p = settings.pressure
        baro = f'{settings.pressure_coupling} {p!r} {p!r} {pdamp!r}'
        if settings.thermostat == 'nose-hoover':
            out.append(f'fix             md all npt temp {t0!r} {t1!r} {tdamp!r} {baro}')
        else:
            out.append(f'fix             md all nph {baro}')
            out.append(f'fix             thermostat all langevin {t0!r} {t1!r} {tdamp!r} {settings.seed} zero yes')
    out += [
        '',
        f'thermo_style    custom {" ".join(THERMO_COLUMNS)}',
        'thermo_modify   flush yes',
        f'thermo          {settings.thermo_interval}',
        '',
        f'dump            {DUMP_GAMMA} all custom {settings.dump_interval} {dump_file} '
        f'id type element x y z f_{FIX_GAMMA}',
        f'dump_modify     {DUMP_GAMMA} skip v_dump_skip element {species} sort id format float %.10g',
        '',
        f'fix             {FIX_HALT} all halt {every} v_max_gamma > {settings.gamma_upper!r} error continue',
        '',
        f'run             {settings.n_steps}',
    ]
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------------------
# Readers


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
