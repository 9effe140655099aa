"""The ``exploration`` section: LAMMPS MD on the fitted potential, and how uncertain environments are cut out."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from aiida_mlip_autopipe.config.base import Section, check_safe_label, job_code_field

__all__ = ('ExplorationConfig', 'ExtractionConfig')


class ExtractionConfig(Section):
    """How uncertain local environments are cut out of MD frames (``extract_uncertain_environments``).

    Atoms whose extrapolation grade reaches ``gamma_threshold`` are centres; centres closer
    than ``merge_distance`` form one environment. Its core is every atom within
    ``core_radius`` (default: the ACE cutoff) of a centre, wrapped in a ``buffer`` shell,
    in an orthorhombic periodic box; see :mod:`aiida_mlip_autopipe.exploration.extraction`.
    """

    code: str = job_code_field('extraction')
    gamma_threshold: float | None = Field(
        default=None,
        gt=0,
        description='Atoms with gamma at or above this are centres. Default: exploration.gamma_lower.',
    )
    core_radius: float | None = Field(
        default=None, gt=0, le=15, description='Core radius in Å around each centre. Default: the ACE cutoff.'
    )
    buffer: float = Field(default=2.0, ge=0, le=10, description='Buffer shell in Å beyond the ACE cutoff core.')
    max_atoms: int = Field(
        default=16,
        ge=1,
        le=5000,
        description='Frames with at most this many atoms are labelled whole (every atom core); larger frames are '
        'cut, unless the cut-out would hold as many atoms as the frame.',
    )
    max_box_atoms: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description='Largest structure DFT is asked to label; bigger cut-outs are skipped and reported.',
    )
    max_environments: int = Field(default=8, ge=1, le=100_000, description='Cap per generation.')
    merge_distance: float = Field(default=3.0, ge=0, le=20, description='Merge high-gamma atoms closer than this (Å).')
    duplicate_threshold: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description='Environments whose normalised SOAP fingerprints (mean over their centres) are closer than '
        'this (Euclidean; 0 identical, 1.41 orthogonal) are near-duplicates; the one with the higher gamma is kept.',
    )
    min_distance_factor: float = Field(
        default=0.7,
        gt=0,
        lt=1.5,
        description='At the seam of a cut-out box, atoms closer than this fraction of the sum of their covalent '
        'radii to another atom are removed (the farther from the centres goes).',
    )

    @model_validator(mode='after')
    def _radii(self) -> ExtractionConfig:
        if self.max_box_atoms < self.max_atoms:
            raise ValueError(f'max_box_atoms ({self.max_box_atoms}) must be at least max_atoms ({self.max_atoms})')
        return self

    def settings(
        self, cutoff: float, gamma_lower: float, buffer_force_weight: float, generation: int
    ) -> dict[str, Any]:
        """The ``settings`` Dict content of ``extract_uncertain_environments`` for one generation."""
        return {
            'gamma_threshold': self.gamma_threshold if self.gamma_threshold is not None else gamma_lower,
            'core_radius': self.core_radius if self.core_radius is not None else cutoff,
            'buffer': self.buffer,
            'max_atoms': self.max_atoms,
            'max_box_atoms': self.max_box_atoms,
            'max_environments': self.max_environments,
            'merge_distance': self.merge_distance,
            'duplicate_threshold': self.duplicate_threshold,
            'min_distance_factor': self.min_distance_factor,
            'buffer_weight': buffer_force_weight,
            'generation': generation,
        }

    @field_validator('code')
    @classmethod
    def _code_label(cls, value: str) -> str:
        return check_safe_label(value, 'code label')


class ExplorationConfig(Section):
    """LAMMPS MD on the fitted potential with extrapolation-grade monitoring (``LammpsCalculation``)."""

    code: str = Field(default='lammps@localhost', description='Label of the AiiDA code for LAMMPS.')
    ensemble: Literal['nvt', 'npt'] = 'nvt'
    thermostat: Literal['nose-hoover', 'langevin'] = Field(
        default='nose-hoover',
        description='Nosé-Hoover (fix nvt/npt) or Langevin (fix langevin with nve/nph; samples small cells better).',
    )
    temperatures: list[Annotated[float, Field(gt=0, le=10000)]] = Field(
        default_factory=lambda: [300.0, 900.0], min_length=1, description='MD temperatures in K.'
    )
    ramp_factor: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description='Each MD ramps its temperature linearly from T to ramp_factor × T (1: constant temperature).',
    )
    pressures: list[Annotated[float, Field(ge=-1e6, le=1e7)]] = Field(
        default_factory=lambda: [0.0], min_length=1, description='NPT pressures in bar.'
    )
    pressure_coupling: Literal['iso', 'aniso', 'tri'] = Field(
        default='iso', description='NPT cell coupling: iso, aniso, or tri (full triclinic).'
    )
    timestep: float = Field(default=0.001, gt=0, le=0.01, description='Time step in ps (LAMMPS metal units).')
    tdamp: float | None = Field(default=None, gt=0, le=10, description='Thermostat damping in ps (default 100 steps).')
    pdamp: float | None = Field(default=None, gt=0, le=100, description='Barostat damping in ps (default 1000 steps).')
    n_steps: int = Field(default=2000, ge=1, le=100_000_000)
    thermo_interval: int = Field(default=10, ge=1, description='Steps between thermo lines (the max-gamma series).')
    dump_interval: int = Field(default=10, ge=1, description='Steps between dumps of uncertain frames.')
    gamma_interval: int | None = Field(
        default=None,
        ge=1,
        description='Steps between extrapolation-grade evaluations (fix pair N); default gcd(thermo, dump '
        'intervals). thermo_interval, dump_interval and n_steps must be multiples of it.',
    )
    gamma_lower: float = Field(default=2.0, gt=0, description='Frames with max gamma above this are dumped.')
    gamma_upper: float = Field(default=10.0, gt=0, description='The run halts when max gamma exceeds this.')
    supercell_atoms: int = Field(
        default=16, ge=1, le=1_000_000, description='Atoms in the MD cell (closest supercell).'
    )
    structures_per_generation: int = Field(default=1, ge=1, le=1000, description='Starting structures per condition.')
    volume_strains: list[Annotated[float, Field(ge=-0.1, le=0.1)]] = Field(
        default_factory=lambda: [0.0],
        min_length=1,
        max_length=20,
        description='Linear isotropic strains of the bulk MD start cells: each bulk start runs at every one (0: the '
        'target lattice). NVT at strained cells samples the volumes the E-V curve, phonons and defects are judged '
        'at; e.g. [-0.02, 0, 0.02] spans +-6 % volume.',
    )
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return check_safe_label(value, 'code label')

    @field_validator('volume_strains')
    @classmethod
    def _distinct_strains(cls, value: list[float]) -> list[float]:
        if len(set(value)) != len(value):
            raise ValueError(f'{value} repeats a strain (the same MD would run twice): list each strain once')
        return value

    @model_validator(mode='after')
    def _thresholds(self) -> ExplorationConfig:
        if self.gamma_lower >= self.gamma_upper:
            raise ValueError(f'gamma_lower ({self.gamma_lower}) must be below gamma_upper ({self.gamma_upper})')
        if self.dump_interval > self.n_steps:
            raise ValueError(f'dump_interval ({self.dump_interval}) exceeds n_steps ({self.n_steps})')
        every = self.gamma_interval or math.gcd(self.thermo_interval, self.dump_interval)
        for name in ('thermo_interval', 'dump_interval', 'n_steps'):
            value = getattr(self, name)
            if value % every:
                raise ValueError(
                    f'{name} ({value}) must be a multiple of the gamma interval ({every}): LAMMPS has extrapolation '
                    'grades only on those steps (set gamma_interval, or make the intervals divide n_steps)'
                )
        if max(self.temperatures) * self.ramp_factor > 20000:
            raise ValueError(f'ramp_factor {self.ramp_factor} drives the hottest MD above 20000 K')
        return self

    def md_settings(
        self, temperature: float, seed: int, pressure: float | None = None, stable_fraction: float = 0.0
    ) -> dict[str, Any]:
        """The ``settings`` Dict content of one ``LammpsCalculation`` at ``temperature`` (K) and ``pressure`` (bar).

        ``seed`` is folded into LAMMPS' accepted range (1 to 900 000 000).
        """
        end = temperature * self.ramp_factor
        return {
            'ensemble': self.ensemble,
            'thermostat': self.thermostat,
            'temperature': float(temperature),
            'temperature_end': None if self.ramp_factor == 1.0 else float(end),
            'pressure': float(self.pressures[0] if pressure is None else pressure),
            'pressure_coupling': self.pressure_coupling,
            'timestep': self.timestep,
            'n_steps': self.n_steps,
            'thermo_interval': self.thermo_interval,
            'dump_interval': self.dump_interval,
            'gamma_interval': self.gamma_interval,
            'gamma_lower': self.gamma_lower,
            'gamma_upper': self.gamma_upper,
            'seed': int(seed) % 900_000_000 + 1,
            'tdamp': self.tdamp,
            'pdamp': self.pdamp,
            'stable_fraction': stable_fraction,
        }
