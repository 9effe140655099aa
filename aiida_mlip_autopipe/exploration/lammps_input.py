"""LAMMPS input of an exploration run: MD settings, data file and input script.

Pure Python (numpy, pydantic), used by :class:`~aiida_mlip_autopipe.exploration.calculation.LammpsCalculation`
(which writes the files); :mod:`~aiida_mlip_autopipe.exploration.driver` runs them on machines
without ML-PACE and :mod:`~aiida_mlip_autopipe.exploration.lammps_output` reads what came back.
The names that tie writer and readers together (the gamma fix, the max-gamma compute, the
halt fix, the dump columns) are defined here, once.

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
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = (
    'COMPUTE_MAX_GAMMA',
    'DUMP_GAMMA',
    'FIX_GAMMA',
    'FIX_HALT',
    'THERMO_COLUMNS',
    'MDSettings',
    'lammps_cell',
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
    :meth:`aiida_mlip_autopipe.exploration.config.ExplorationConfig.md_settings` from the run's config.
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
