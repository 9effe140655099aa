"""The one configuration file of a run: pydantic models, loading and error messages.

Everything a user can set lives here, validated before anything is submitted, so a
typo or an impossible value costs seconds instead of a queue slot. The models are pure
(no database access); checks that need the AiiDA profile (pseudopotential families,
codes) are in :func:`check_against_profile`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = (
    'ConfigError',
    'DFTConfig',
    'ExplorationConfig',
    'GeneratorConfig',
    'LoopConfig',
    'MLIPConfig',
    'RepulsionConfig',
    'SurrogateConfig',
    'TargetSystem',
    'TrainingConfig',
    'ValidationConfig',
    'check_against_profile',
    'load_config',
    'parse_config',
)

#: Elements whose DFT is spin polarised by default, with the starting magnetisation
#: (fraction of the valence charge, QE's ``starting_magnetization``) used when unset.
MAGNETIC_ELEMENTS: dict[str, float] = {
    'Fe': 0.4,
    'Co': 0.35,
    'Ni': 0.25,
    'Mn': 0.5,
    'Cr': 0.5,
    'Gd': 0.5,
}

_SAFE_LABEL = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@+\-/]*$')
_SHELL_META = set(';&|`$<>()\\"\'*?[]{}!#~\n\r\t ')


def _chemical_symbols() -> frozenset[str]:
    from ase.data import chemical_symbols

    return frozenset(chemical_symbols[1:])


def _check_safe_label(value: str, what: str) -> str:
    """Reject labels that would be unsafe in a command line or a file path."""
    bad = sorted({c for c in value if c in _SHELL_META})
    if bad:
        raise ValueError(f'{what} {value!r} contains {"".join(bad)!r}; use letters, digits and _ . @ + - / only')
    if not _SAFE_LABEL.match(value):
        raise ValueError(f'{what} {value!r} must start with a letter or digit')
    return value


def check_relative_path(value: str, what: str = 'path') -> str:
    """Return ``value`` if it is a relative path that stays inside the working folder."""
    bad = sorted({c for c in value if c in _SHELL_META - {'~'}})
    if bad:
        raise ValueError(f'{what} {value!r} contains {"".join(bad)!r}; rename the file')
    pure = PurePosixPath(value)
    if pure.is_absolute() or value.startswith('~'):
        # Absolute paths are allowed for user structure files on the local disk; they
        # never end up inside a calculation folder, only their content does.
        return value
    if '..' in pure.parts:
        raise ValueError(f'{what} {value!r} escapes the working folder with ".."; give a path inside it')
    return value


class _Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment.

    Numbers must be finite: ``.inf`` or ``.nan`` in YAML are errors, not silent extremes.
    """

    model_config = ConfigDict(extra='forbid', validate_assignment=True, frozen=False, allow_inf_nan=False)


Prototype = Literal[
    'fcc', 'bcc', 'hcp', 'diamond', 'sc', 'rocksalt', 'zincblende', 'cesiumchloride', 'fluorite', 'wurtzite'
]

#: Number of species sites per primitive cell of each prototype, used to check that
#: the composition fits the prototype (e.g. rocksalt needs two elements).
PROTOTYPE_SUBLATTICES: dict[str, int] = {
    'fcc': 1,
    'bcc': 1,
    'hcp': 1,
    'diamond': 1,
    'sc': 1,
    'rocksalt': 2,
    'zincblende': 2,
    'cesiumchloride': 2,
    'fluorite': 2,
    'wurtzite': 2,
}


class TargetSystem(_Section):
    """What material the potential is for."""

    elements: list[str] = Field(
        min_length=1, description='Chemical symbols of every element the potential must know, e.g. [Si, Ge].'
    )
    composition: dict[str, float] | None = Field(
        default=None,
        description='Atomic fractions per element, summing to 1 (e.g. {Si: 0.5, Ge: 0.5}). '
        'Default: pure element if one element, equimolar otherwise.',
    )
    prototype: Prototype | None = Field(
        default=None,
        description='Crystal structure built with ASE. Give either this or structure_file.',
    )
    lattice_constant: float | None = Field(
        default=None,
        gt=0,
        le=30,
        description='Lattice constant a in Å of the conventional cell. Default: ASE reference data '
        '(Vegard average for alloys).',
    )
    c_over_a: float | None = Field(default=None, gt=0, le=10, description='c/a ratio for hcp/wurtzite (default ideal).')
    structure_file: str | None = Field(
        default=None,
        description='Path to a structure file ASE can read (cif, POSCAR, extxyz...), relative to the '
        'config file. Replaces prototype.',
    )
    supercell_atoms: list[Annotated[int, Field(ge=1, le=2000)]] = Field(
        default_factory=lambda: [8],
        min_length=1,
        description='Target numbers of atoms for the supercells built from the base structure (the '
        'closest supercell that reaches at least this many atoms is used).',
    )

    @field_validator('elements')
    @classmethod
    def _known_elements(cls, value: list[str]) -> list[str]:
        symbols = _chemical_symbols()
        for element in value:
            if element not in symbols:
                close = difflib.get_close_matches(element, symbols, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ''
                raise ValueError(f'unknown element {element!r}{hint}')
        if len(set(value)) != len(value):
            raise ValueError(f'elements {value} contain duplicates; list each element once')
        return value

    @field_validator('structure_file')
    @classmethod
    def _safe_structure_file(cls, value: str | None) -> str | None:
        return None if value is None else check_relative_path(value, 'structure_file')

    @model_validator(mode='after')
    def _consistent(self) -> TargetSystem:
        if self.composition is None:
            self.__dict__['composition'] = {e: 1.0 / len(self.elements) for e in self.elements}
        comp = self.composition
        assert comp is not None
        if set(comp) != set(self.elements):
            missing = sorted(set(self.elements) - set(comp))
            extra = sorted(set(comp) - set(self.elements))
            parts = []
            if missing:
                parts.append(f'missing {missing}')
            if extra:
                parts.append(f'has {extra} not in elements')
            raise ValueError(f'composition {comp} must give a fraction for each element: {", ".join(parts)}')
        for element, fraction in comp.items():
            if not 0 < fraction <= 1:
                raise ValueError(f'composition[{element}] = {fraction}: fractions must be in (0, 1]')
        total = sum(comp.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f'composition fractions sum to {total:g}; they must sum to 1')
        if self.prototype is None and self.structure_file is None:
            raise ValueError('give either prototype (e.g. diamond) or structure_file')
        if self.prototype is not None and self.structure_file is not None:
            raise ValueError('give prototype or structure_file, not both')
        if self.prototype is not None and PROTOTYPE_SUBLATTICES[self.prototype] > len(self.elements):
            raise ValueError(f'prototype {self.prototype} needs {PROTOTYPE_SUBLATTICES[self.prototype]} elements')
        if self.prototype is not None and PROTOTYPE_SUBLATTICES[self.prototype] > 1:
            if len(self.elements) > PROTOTYPE_SUBLATTICES[self.prototype]:
                raise ValueError(
                    f'prototype {self.prototype} has two sublattices and cannot say which one {self.elements} '
                    'share; give a structure_file with one species per sublattice instead'
                )
            if self.lattice_constant is None:
                raise ValueError(
                    f'prototype {self.prototype} needs lattice_constant (Å): elemental reference data do not '
                    'give the lattice constant of a compound'
                )
        if self.c_over_a is not None and self.prototype not in {'hcp', 'wurtzite'}:
            raise ValueError(f'c_over_a applies to hcp and wurtzite only, not to prototype {self.prototype}')
        return self

    @property
    def is_alloy(self) -> bool:
        """Whether several elements share one sublattice (needs SQS)."""
        if self.prototype is None:
            return False
        return len(self.elements) > PROTOTYPE_SUBLATTICES[self.prototype]


class StrainOperation(_Section):
    """Homogeneous strain: volumetric scaling and random shear."""

    kind: Literal['strain'] = 'strain'
    volumetric: tuple[float, float] = Field(
        default=(-0.05, 0.05),
        description='Range [low, high] of the isotropic linear strain, drawn uniformly (fraction, e.g. -0.05 = 5 % '
        'compression per axis, about 14 % in volume).',
    )
    shear: float = Field(
        default=0.03, ge=0, le=0.3, description='Maximum absolute shear strain component (each of yz, xz, xy uniform).'
    )
    copies: int = Field(default=2, ge=1, le=1000, description='Strained copies made of each input structure.')
    keep_input: bool = Field(default=True, description='Keep the unstrained inputs in the pool too.')

    @field_validator('volumetric')
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if lo > hi:
            raise ValueError(f'volumetric range {list(value)} is reversed; give [low, high]')
        if lo <= -0.5 or hi >= 1.0:
            raise ValueError(f'volumetric range {list(value)} is unphysical; keep it within (-0.5, 1.0)')
        return value


class RattleOperation(_Section):
    """Gaussian displacement of every atom."""

    kind: Literal['rattle'] = 'rattle'
    stdev: float = Field(
        default=0.05, gt=0, le=0.5, description='Standard deviation in Å of the Gaussian displacement per axis.'
    )
    copies: int = Field(default=2, ge=1, le=1000, description='Rattled copies made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unrattled inputs in the pool too (and as parents of the new ones).'
    )


class VacancyOperation(_Section):
    """Remove atoms at random."""

    kind: Literal['vacancy'] = 'vacancy'
    count: int = Field(default=1, ge=1, le=100, description='Vacancies per structure.')
    copies: int = Field(default=1, ge=1, le=1000, description='Defective copies made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the perfect inputs in the pool too (and as parents of the new ones).'
    )


class AntisiteOperation(_Section):
    """Swap two atoms of different species (alloys only)."""

    kind: Literal['antisite'] = 'antisite'
    count: int = Field(default=1, ge=1, le=100, description='Swapped pairs per structure.')
    copies: int = Field(default=1, ge=1, le=1000, description='Copies with swapped pairs made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unswapped inputs in the pool too (and as parents of the new ones).'
    )


class InterstitialOperation(_Section):
    """Insert atoms at interstitial sites."""

    kind: Literal['interstitial'] = 'interstitial'
    count: int = Field(default=1, ge=1, le=20, description='Interstitials per structure.')
    element: str | None = Field(default=None, description='Species to insert (default: first element).')
    sites: Literal['voronoi', 'tetrahedral', 'octahedral'] = Field(
        default='voronoi',
        description="Candidate sites: 'voronoi' (every vertex of the periodic Voronoi tessellation, the largest "
        "empty spheres), 'tetrahedral' or 'octahedral' (holes enclosed by 4 or 6 atoms; diamond has no octahedral).",
    )
    min_distance: float = Field(
        default=1.6, gt=0.5, le=4.0, description='Minimum distance in Å to every atom, earlier insertions included.'
    )
    copies: int = Field(default=1, ge=1, le=1000, description='Copies with interstitials made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unfilled inputs in the pool too (and as parents of the new ones).'
    )


Operation = Annotated[
    StrainOperation | RattleOperation | VacancyOperation | AntisiteOperation | InterstitialOperation,
    Field(discriminator='kind'),
]


class SQSConfig(_Section):
    """Special quasirandom structures for alloys (icet)."""

    n_structures: int = Field(
        default=1, ge=1, le=50, description='Independent SQS (different seeds) per supercell size.'
    )
    cutoffs: list[Annotated[float, Field(gt=0, le=15)]] = Field(
        default_factory=lambda: [6.0, 4.5], description='Cluster-space cutoffs in Å (pairs, triplets, ...).'
    )
    n_steps: int = Field(
        default=10000,
        ge=100,
        le=10_000_000,
        description='Simulated-annealing steps of icet on the fixed supercell (about 4 000 steps per second).',
    )


class GeneratorConfig(_Section):
    """How the initial candidate pool is built."""

    sqs: SQSConfig = Field(default_factory=SQSConfig)
    operations: list[Operation] = Field(
        default_factory=lambda: [StrainOperation(), RattleOperation()],
        description='Operations applied in this order; each maps the pool to a larger pool.',
    )
    max_candidates: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description='Cap on the pool size: the base structures plus a seeded random subset of the rest.',
    )


class DescriptorConfig(_Section):
    """SOAP descriptor parameters (dscribe)."""

    r_cut: float = Field(default=5.0, gt=1, le=12, description='SOAP cutoff in Å.')
    n_max: int = Field(default=6, ge=1, le=20, description='Number of radial basis functions.')
    l_max: int = Field(default=4, ge=0, le=12, description='Maximum degree of the spherical harmonics.')
    sigma: float = Field(default=0.5, gt=0, le=3, description='Gaussian width in Å.')
    pooling: Literal['mean', 'max', 'mean_max'] = Field(
        default='mean',
        description="How per-atom SOAP vectors become one vector per structure: 'mean' (average over atoms), "
        "'max' (feature-wise maximum, keeps local extremes such as a defect or a hot atom visible), or "
        "'mean_max' (both, concatenated). The mean is dominated by density, so FPS on it favours strained cells.",
    )


class SurrogateConfig(_Section):
    """Screening with a universal potential and diverse selection."""

    model: str = Field(
        default='mace_mp:small',
        description="Screening model: 'mace_mp:small|medium|large' (downloaded when online), "
        "'chgnet' (weights ship with the wheel, works offline), 'none', or a path to a MACE model file.",
    )
    max_force: float = Field(default=15.0, gt=0, description='Reject candidates whose max |F| exceeds this (eV/Å).')
    energy_window: float = Field(
        default=2.0,
        gt=0,
        description='Reject candidates whose energy/atom lies farther than this (eV/atom) from the trend of the '
        'candidates that passed the force check (per-element reference energies fitted to them, so different '
        'compositions compare fairly); catches both blow-ups and model holes.',
    )
    min_distance_factor: float = Field(
        default=0.5,
        ge=0,
        lt=1.5,
        description='Reject, before any model evaluation, candidates with two atoms closer than this fraction of '
        'the sum of their covalent radii (overlapping atoms); 0 switches the check off.',
    )
    duplicate_distance: float = Field(
        default=0.0,
        ge=0,
        description='Selection stops picking when the farthest remaining candidate is within this descriptor '
        'distance of the known set (duplicates are never selected); 0 skips exact duplicates only.',
    )
    batch_size: int = Field(default=16, ge=1, le=4096, description='Structures per model evaluation batch.')
    device: Literal['cpu', 'cuda'] = 'cpu'
    n_select: int = Field(default=8, ge=1, le=100_000, description='Candidates labelled per generation.')
    descriptor: DescriptorConfig = Field(default_factory=DescriptorConfig)

    @field_validator('model')
    @classmethod
    def _model(cls, value: str) -> str:
        if value in {'chgnet', 'none'} or value.startswith('mace_mp:'):
            if value.startswith('mace_mp:') and value.split(':', 1)[1] not in {'small', 'medium', 'large'}:
                raise ValueError(f"model {value!r}: MACE-MP size must be 'small', 'medium' or 'large'")
            return value
        return check_relative_path(value, 'model')


class DFTConfig(_Section):
    """Quantum ESPRESSO labelling through ``PwBaseWorkChain``."""

    code: str = Field(default='pw@localhost', description='Label of the AiiDA code for pw.x.')
    protocol: Literal['fast', 'balanced', 'stringent'] = Field(
        default='fast', description='aiida-quantumespresso protocol the inputs start from.'
    )
    pseudo_family: str = Field(
        default='MLIPAutoPipe/Debian/LDA',
        description="Pseudopotential family label; 'SSSP/1.3/PBE/efficiency' after "
        '`aiida-mlip-autopipe setup --sssp` when online.',
    )
    ecutwfc: float | None = Field(
        default=None, gt=0, le=500, description='Wavefunction cutoff in Ry (default: family).'
    )
    ecutrho: float | None = Field(default=None, gt=0, le=4000, description='Density cutoff in Ry (default: family).')
    kpoints_distance: float = Field(
        default=0.3, gt=0.01, le=2.0, description='k-point spacing in Å⁻¹ (aiida-quantumespresso convention).'
    )
    smearing: Literal['cold', 'gaussian', 'mv', 'mp', 'fd'] = 'cold'
    degauss: float = Field(default=0.02, gt=0, le=0.2, description='Smearing width in Ry.')
    spin_polarised: bool | None = Field(
        default=None,
        description='Spin-polarised DFT. Default: on when a magnetic element (Fe, Co, Ni, Mn, Cr) is present.',
    )
    starting_magnetization: dict[str, float] | None = Field(
        default=None, description='Per element, in [-1, 1]. Default: chosen per magnetic element.'
    )
    electron_maxstep: int = Field(default=100, ge=1, le=1000, description='Maximum SCF iterations.')
    conv_thr_per_atom: float = Field(default=1e-8, gt=0, le=1e-3, description='SCF threshold per atom in Ry.')
    parameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='Extra pw.x namelist values, e.g. {SYSTEM: {nbnd: 20}}.'
    )
    num_mpiprocs: int = Field(default=1, ge=1, le=100_000, description='MPI processes per pw.x run.')
    max_concurrent: int = Field(
        default=2, ge=1, le=10_000, description='Most pw.x jobs in flight at once (keep ≤ cores on one machine).'
    )
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)
    oracle: Literal['emt'] | None = Field(
        default=None,
        description='BENCHMARKS ONLY, NOT DFT: label with an analytic ASE calculator instead of pw.x '
        "('emt': Al, Cu, Ni, Ag, Au, Pd, Pt), for measuring the loop itself in minutes. Never set it for a "
        'real potential; the pw.x settings of this section are then unused.',
    )

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_safe_label(value, 'code label')

    @field_validator('pseudo_family')
    @classmethod
    def _family(cls, value: str) -> str:
        return _check_safe_label(value, 'pseudo family label')

    @field_validator('parameters')
    @classmethod
    def _namelists(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        allowed = {'CONTROL', 'SYSTEM', 'ELECTRONS', 'IONS', 'CELL'}
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key.upper(), allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ''
                raise ValueError(f'unknown namelist {key!r}{hint} (allowed: {", ".join(sorted(allowed))})')
        return value

    @field_validator('parameters')
    @classmethod
    def _labelling_parameters(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Keys that AiiDA sets from the structure and the run folder (PwCalculation refuses
        # them at submission, after nodes exist), and settings a label cannot do without.
        blocked = {
            'CONTROL': {'pseudo_dir', 'outdir', 'prefix'},
            'SYSTEM': {'celldm', 'nat', 'ntyp', 'a', 'b', 'c', 'cosab', 'cosac', 'cosbc', 'ibrav'},
        }
        for namelist, keys in value.items():
            if not isinstance(keys, dict):
                continue
            for key in sorted(set(keys) & blocked.get(namelist, set())):
                raise ValueError(f'{namelist}.{key} is set by AiiDA from the structure and the run; remove it')
        control = value.get('CONTROL', {}) if isinstance(value.get('CONTROL'), dict) else {}
        if control.get('calculation', 'scf') != 'scf':
            raise ValueError(
                f"CONTROL.calculation = {control['calculation']!r}: labels are single-point 'scf' runs; remove it"
            )
        for key in ('tprnfor', 'tstress'):
            if control.get(key, True) is not True:
                raise ValueError(f'CONTROL.{key} = {control[key]!r}: labels need forces and stress; remove it')
        return value

    @field_validator('starting_magnetization')
    @classmethod
    def _magnetization(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for element, mag in (value or {}).items():
            if not -1 <= mag <= 1:
                raise ValueError(f'starting_magnetization[{element}] = {mag} must be in [-1, 1]')
        return value

    @model_validator(mode='after')
    def _cutoffs(self) -> DFTConfig:
        if self.ecutrho is not None and self.ecutwfc is None:
            raise ValueError('ecutrho is set but ecutwfc is not; give both cutoffs (or neither, to use the family)')
        if self.ecutwfc is not None and self.ecutrho is not None and self.ecutrho < 4 * self.ecutwfc:
            raise ValueError(f'ecutrho ({self.ecutrho} Ry) must be at least 4 × ecutwfc ({self.ecutwfc} Ry)')
        return self

    def magnetization_for(self, elements: Iterable[str]) -> dict[str, float]:
        """Starting magnetisation per element, or ``{}`` when the run is not spin polarised."""
        elements = list(elements)
        spin = self.spin_polarised
        if spin is None:
            spin = any(e in MAGNETIC_ELEMENTS for e in elements)
        if not spin:
            return {}
        chosen = {e: MAGNETIC_ELEMENTS.get(e, 0.1) for e in elements}
        chosen.update(self.starting_magnetization or {})
        return chosen


class RepulsionConfig(_Section):
    """Where the ACE potential hands over to a screened nuclear (ZBL) core repulsion.

    ACE knows nothing about distances shorter than those in its training data. Below
    ``inner_cutoff`` the pair interaction is the Ziegler–Biersack–Littmark screened
    nuclear repulsion (parameter-free, from the atomic numbers), switched in over
    ``delta``. The inner cutoff is set deliberately *below* the shortest distance MD can
    reach, never at the shortest distance of the training data (pacemaker's
    ``repulsion: auto``), which puts the switching region right where the next MD steps
    go and gives force spikes of tens of eV/Å there. Between the inner cutoff and the
    training data ACE extrapolates; the extrapolation grade flags it.
    """

    inner_cutoff: float | dict[str, float] | None = Field(
        default=None,
        description='Inner cutoff in Å: one value for every pair, per pair as {"Si-Ge": 1.3, ...}, or unset for '
        'covalent_fraction × (sum of the two covalent radii), e.g. 1.665 Å for Si–Si.',
    )
    covalent_fraction: float = Field(
        default=0.75,
        gt=0.1,
        le=0.95,
        description='Fraction of the covalent bond length used as inner cutoff when inner_cutoff is unset: a '
        'distance thermal MD does not reach (for Si 1.665 Å against a 2.35 Å bond).',
    )
    delta: float | None = Field(
        default=None,
        gt=0,
        le=2,
        description='Width in Å of the region below the inner cutoff where ACE is switched off and the core '
        'repulsion on. Default: a quarter of the inner cutoff.',
    )
    max_data_fraction: float = Field(
        default=0.9,
        gt=0.1,
        le=1,
        description='The inner cutoff of a pair is lowered to at most this fraction of the shortest distance of '
        'that pair in the training data, so every labelled configuration is fitted by ACE alone.',
    )

    @field_validator('inner_cutoff')
    @classmethod
    def _pairs(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        if value is None:
            return None
        values = value.values() if isinstance(value, dict) else [value]
        for cutoff in values:
            if not 0.1 < cutoff <= 4:
                raise ValueError(f'inner cutoff {cutoff} Å is outside (0.1, 4] Å')
        if isinstance(value, dict):
            symbols = _chemical_symbols()
            for key in value:
                parts = key.split('-')
                if len(parts) != 2 or any(p not in symbols for p in parts):
                    raise ValueError(f'inner_cutoff key {key!r} must name a pair of elements like "Si-Ge"')
        return value

    def inner_cutoff_for(self, first: str, second: str) -> float | None:
        """The inner cutoff given for a pair (either order), or None when it is to be derived."""
        if self.inner_cutoff is None:
            return None
        if not isinstance(self.inner_cutoff, dict):
            return float(self.inner_cutoff)
        for key in (f'{first}-{second}', f'{second}-{first}'):
            if key in self.inner_cutoff:
                return float(self.inner_cutoff[key])
        return None


class TrainingConfig(_Section):
    """Pacemaker fit settings (turned into pacemaker's input.yaml by ``training.input``)."""

    code: str = Field(default='pacemaker@localhost', description='Label of the AiiDA code for pacemaker.')
    cutoff: float = Field(default=5.0, gt=1, le=12, description='Radial cutoff in Å.')
    functions_per_element: int = Field(default=32, ge=1, le=5000, description='ACE basis functions per element.')
    embedding: Literal['FinnisSinclairShiftedScaled', 'FinnisSinclair', 'linear'] = Field(
        default='FinnisSinclairShiftedScaled',
        description="Embedding function; 'linear' is a single density with exponent 1 (ndensity is then ignored).",
    )
    ndensity: int = Field(default=2, ge=1, le=8, description='Number of densities in the embedding.')
    radial_basis: Literal['SBessel', 'ChebExpCos', 'ChebPow'] = Field(
        default='SBessel', description='Radial basis functions of every bond.'
    )
    nradmax_by_orders: list[Annotated[int, Field(ge=1, le=30)]] | None = Field(
        default=None,
        description='Largest radial index per body order (pacemaker nradmax_by_orders) for every block. '
        "Default: pacemaker's template for unary, binary, ternary and higher blocks.",
    )
    lmax_by_orders: list[Annotated[int, Field(ge=0, le=12)]] | None = Field(
        default=None,
        description='Largest angular index per body order (pacemaker lmax_by_orders); give with nradmax_by_orders.',
    )
    energy_weight: float = Field(
        default=0.7,
        gt=0,
        description='Relative weight of energies per atom in the loss; pacemaker kappa = '
        'force_weight / (energy_weight + force_weight).',
    )
    force_weight: float = Field(default=0.3, gt=0, description='Relative weight of forces in the loss.')
    l1_regularization: float = Field(default=1e-8, ge=0, le=1, description='L1 penalty on the coefficients.')
    l2_regularization: float = Field(default=1e-8, ge=0, le=1, description='L2 penalty on the coefficients.')
    buffer_force_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description='Force weight of buffer atoms in cut-out environments (core atoms: 1). The extraction step '
        "writes it into each frame's per-atom force_weight array, which the fit uses as pacemaker's per-atom "
        'w_forces.',
    )
    optimizer: Literal['BFGS', 'L-BFGS-B'] = 'BFGS'
    maxiter: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description='Optimizer iterations per fit. A fit that stops here is kept and reported as not converged.',
    )
    reference_energy: Literal['auto'] | dict[str, float] = Field(
        default='auto',
        description="Per-element reference energies in eV subtracted before fitting: 'auto' (least squares over the "
        'training set, kept from the previous potential on warm starts) or {Si: -107.6, shift: 0.0}.',
    )
    test_fraction: float = Field(
        default=0.1,
        ge=0,
        lt=0.9,
        description='Fraction of labels held out as test set when no separate test set is given; 0 for none.',
    )
    warm_start: bool = Field(default=True, description='Start each fit from the previous generation potential.')
    repulsion: RepulsionConfig = Field(default_factory=RepulsionConfig)
    batch_size: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description='Structures per TensorFlow batch; lower it when a fit runs out of memory.',
    )
    display_step: int = Field(
        default=20, ge=1, le=100_000, description='Iterations between test-set evaluations in the learning curve.'
    )
    extra_input: dict[str, Any] = Field(
        default_factory=dict,
        description='Expert use: entries deep-merged last into the generated pacemaker input.yaml, e.g. '
        '{fit: {ladder_step: 10}}.',
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_safe_label(value, 'code label')

    @field_validator('reference_energy')
    @classmethod
    def _reference(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        if isinstance(value, dict):
            symbols = _chemical_symbols()
            unknown = sorted(k for k in value if k != 'shift' and k not in symbols)
            if unknown:
                raise ValueError(f'reference_energy keys {unknown} are neither elements nor "shift"')
            if not all(math.isfinite(v) for v in value.values()):
                raise ValueError('reference_energy values must be finite numbers (eV)')
        return value

    @field_validator('extra_input')
    @classmethod
    def _extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = {'potential', 'data', 'fit', 'backend', 'metadata'}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f'extra_input sections {unknown} are not pacemaker input sections ({sorted(allowed)})')
        return value

    @model_validator(mode='after')
    def _consistent(self) -> TrainingConfig:
        cutoffs = self.repulsion.inner_cutoff
        values = [] if cutoffs is None else (list(cutoffs.values()) if isinstance(cutoffs, dict) else [cutoffs])
        for value in values:
            if value >= self.cutoff:
                raise ValueError(f'repulsion.inner_cutoff ({value} Å) must be below cutoff ({self.cutoff} Å)')
        if (self.nradmax_by_orders is None) != (self.lmax_by_orders is None):
            raise ValueError('give nradmax_by_orders and lmax_by_orders together')
        if self.nradmax_by_orders is not None and len(self.nradmax_by_orders) != len(self.lmax_by_orders or []):
            raise ValueError(
                f'nradmax_by_orders ({len(self.nradmax_by_orders)} orders) and lmax_by_orders '
                f'({len(self.lmax_by_orders or [])} orders) must have the same length'
            )
        return self

    @property
    def kappa(self) -> float:
        """Pacemaker's relative force weight in the loss (0 energies only, 1 forces only)."""
        return self.force_weight / (self.energy_weight + self.force_weight)


class ExtractionConfig(_Section):
    """How uncertain local environments are cut out of MD frames (``extract_uncertain_environments``).

    Atoms whose extrapolation grade reaches ``gamma_threshold`` are centres; centres closer
    than ``merge_distance`` form one environment. Its core is every atom within
    ``core_radius`` (default: the ACE cutoff) of a centre, wrapped in a ``buffer`` shell,
    in an orthorhombic periodic box; see :mod:`aiida_mlip_autopipe.exploration.extraction`.
    """

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


class ExplorationConfig(_Section):
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
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_safe_label(value, 'code label')

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


class FailureBudget(_Section):
    """How many failures a run tolerates before it stops with a 4xx exit code."""

    label_fraction: float = Field(
        default=0.25, ge=0, le=1, description='Failed DFT labels / labels tried per generation.'
    )
    md_fraction: float = Field(default=0.5, ge=0, le=1, description='Failed MD runs / MD runs per generation.')
    fits: int = Field(default=1, ge=0, le=100, description='Failed fits tolerated in a whole run.')


class LoopConfig(_Section):
    """When the active-learning loop stops."""

    max_generations: int = Field(default=4, ge=1, le=1000)
    dft_budget: int = Field(default=200, ge=1, le=10_000_000, description='Most DFT labels in the whole run.')
    stable_fraction: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description='Stable when fewer MD frames than this exceed gamma_lower and none halted.',
    )
    rmse_plateau: float = Field(
        default=0.02, ge=0, le=1, description='Stop when the test force RMSE improves by less than this fraction.'
    )
    failure_budget: FailureBudget = Field(default_factory=FailureBudget)
    calibrate_gamma: bool = Field(default=False, description='Adjust gamma_lower from measured force errors.')
    gamma_bounds: tuple[float, float] = Field(default=(1.5, 5.0), description='Bounds for the calibrated gamma_lower.')
    reuse_pool: bool = Field(
        default=True,
        description='From generation 1 on, also offer the unlabelled candidates of earlier pools on which the '
        'current potential extrapolates (max gamma above gamma_lower); MD alone revisits only what it samples.',
    )
    calibration_error: float = Field(
        default=0.3,
        gt=0,
        le=100,
        description='Per-atom force error (eV/Å) that gamma should flag; calibration finds the gamma where '
        'the mean error crosses it.',
    )

    @field_validator('gamma_bounds')
    @classmethod
    def _bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError(f'gamma_bounds {list(value)} must be 0 < low < high')
        return value


class ValidationConfig(_Section):
    """Checks of the final potential against DFT."""

    enabled: bool = True
    ev_points: int = Field(default=7, ge=3, le=51, description='Points on the energy–volume curve.')
    ev_strain: float = Field(default=0.04, gt=0, le=0.2, description='Linear strain range ± of the E–V curve.')
    phonons: bool = True
    phonon_supercell: int = Field(
        default=2, ge=1, le=6, description='Phonopy supercell multiple of the primitive cell.'
    )
    phonon_displacement: float = Field(default=0.01, gt=0, le=0.1, description='Finite displacement in Å.')
    phonon_dft_max_atoms: int = Field(
        default=16, ge=1, le=1000, description='Label displaced supercells with DFT only up to this many atoms.'
    )
    md_steps: int = Field(default=1000, ge=10, le=10_000_000, description='Stability MD at the highest temperature.')


class MLIPConfig(_Section):
    """A whole active-learning run."""

    name: str = Field(default='mlip-run', description='Label of the run (group and node labels).')
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description='Seed of every random choice.')
    target: TargetSystem
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    surrogate: SurrogateConfig = Field(default_factory=SurrogateConfig)
    dft: DFTConfig = Field(default_factory=DFTConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @field_validator('name')
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_safe_label(value, 'name')

    @model_validator(mode='after')
    def _cross_section(self) -> MLIPConfig:
        for op in self.generator.operations:
            if (
                isinstance(op, InterstitialOperation)
                and op.element is not None
                and op.element not in self.target.elements
            ):
                raise ValueError(
                    f'generator.operations: interstitial element {op.element!r} is not in target.elements '
                    f'{self.target.elements}'
                )
            if isinstance(op, AntisiteOperation) and len(self.target.elements) < 2:
                raise ValueError('generator.operations: antisite needs at least two elements in target.elements')
        if self.dft.oracle is not None:  # issue 9: the benchmark oracle must cover the target
            from aiida_mlip_autopipe.calculations.functions.oracle import check_oracle

            problem = check_oracle(self.dft.oracle, self.target.elements)
            if problem is not None:
                raise ValueError(f'dft.oracle: {problem}')
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict, as stored in the ``config`` ``Dict`` input."""
        return self.model_dump(mode='json')


# ---------------------------------------------------------------------------------------
# Errors and loading


class ConfigError(ValueError):
    """A configuration that cannot run; ``problems`` lists ``(field, value, message)``."""

    def __init__(self, problems: list[tuple[str, Any, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        """One line per problem: the dotted field, what was received, what is allowed."""
        head = f'{self.source}: ' if self.source else ''
        lines = [f'{head}{len(self.problems)} problem(s) in the configuration:']
        for loc, value, message in self.problems:
            shown = '' if value is _MISSING else f' (got {_short(value)})'
            lines.append(f'  - {loc or "<top>"}{shown}: {message}')
        return '\n'.join(lines)


class _Missing:
    def __repr__(self) -> str:
        return '<missing>'


_MISSING = _Missing()


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for key suggestions)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            # A discriminated-union tag ('strain', ...) appears in the location.
            for member in _union_members(current):
                if getattr(member.model_fields.get('kind'), 'default', None) == part:
                    current = member
                    break
            else:
                return None
            continue
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _union_members(model: Any) -> list[type[BaseModel]]:
    return [StrainOperation, RattleOperation, VacancyOperation, AntisiteOperation, InterstitialOperation]


def _inner_model(annotation: Any) -> Any:
    """Dig the BaseModel out of ``X | None``, ``list[X]`` and ``Annotated`` wrappers."""
    import typing

    origin = typing.get_origin(annotation)
    if origin is None:
        return annotation
    for arg in typing.get_args(annotation):
        inner = _inner_model(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    current = data
    for part in loc:
        in_mapping = isinstance(current, Mapping) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_mapping or in_list:
            current = current[part]
        else:
            return _MISSING
    return current


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-tag entries so the path reads like the YAML."""
    tags = {'strain', 'rattle', 'vacancy', 'antisite', 'interstitial'}
    cleaned = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in tags and i > 0 and isinstance(loc[i - 1], int):
            continue
        if isinstance(part, str) and part.startswith('function-'):
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _dotted(loc: Iterable[Any]) -> str:
    out = ''
    for part in loc:
        out += f'[{part}]' if isinstance(part, int) else (f'.{part}' if out else str(part))
    return out


def _problems_from(error: ValidationError, data: Any) -> list[tuple[str, Any, str]]:
    problems: list[tuple[str, Any, str]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item['loc'])
        kind = item['type']
        message = item['msg']
        if message.startswith('Value error, '):
            message = message[len('Value error, ') :]
        if message.startswith('Assertion failed, '):
            message = message[len('Assertion failed, ') :]
        clean = _clean_loc(loc)
        if kind == 'extra_forbidden':
            owner = _model_at(MLIPConfig, loc[:-1])
            key = str(loc[-1])
            allowed = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ''
            message = f'unknown key {key!r}{hint} (allowed here: {", ".join(allowed)})'
            problems.append((_dotted(clean), _MISSING, message))
            continue
        if kind == 'missing':
            problems.append((_dotted(clean), _MISSING, 'required field is missing'))
            continue
        if kind == 'union_tag_invalid':
            kinds = sorted(['strain', 'rattle', 'vacancy', 'antisite', 'interstitial'])
            tag = str(item.get('ctx', {}).get('tag', ''))
            close = difflib.get_close_matches(tag, kinds, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ''
            message = f'unknown operation kind {tag!r}; {hint}allowed: {", ".join(kinds)}'
        if kind == 'literal_error':
            allowed = re.findall(r"'([^']*)'", str(item.get('ctx', {}).get('expected', '')))
            close = difflib.get_close_matches(str(item.get('input')), allowed, n=1)
            if close:
                message = f"{message}; did you mean '{close[0]}'?"
        named = re.match(r'^([a-z_]+(?:\.[a-z_]+)+): (.+)$', message, re.DOTALL) if not clean else None
        if named:
            # A check across sections names its field first ('generator.operations: ...').
            clean, message = tuple(named.group(1).split('.')), named.group(2)
        # A whole-config check has no single field: its message names the fields instead.
        problems.append((_dotted(clean), _value_at(data, clean) if clean else _MISSING, message))
    return problems


def parse_config(data: Any, source: str | None = None) -> MLIPConfig:
    """Validate a mapping (from YAML or a stored ``Dict``) into an :class:`MLIPConfig`."""
    if not isinstance(data, Mapping):
        raise ConfigError([('', data, 'the configuration must be a mapping of sections (target:, dft:, ...)')], source)
    booleans = _boolean_problems(MLIPConfig, data)
    try:
        config = MLIPConfig.model_validate(dict(data))
    except ValidationError as exc:
        flagged = {loc for loc, _, _ in booleans}
        problems = [p for p in _problems_from(exc, data) if p[0] not in flagged]
        raise ConfigError(booleans + problems, source) from None
    if booleans:
        raise ConfigError(booleans, source)
    return config


def _takes_number_not_bool(annotation: Any) -> bool:
    """Whether a field takes ``int`` or ``float`` but not ``bool`` (pydantic would read ``yes`` as 1)."""
    import typing

    def flatten(a: Any) -> set[Any]:
        args = typing.get_args(a)
        return {a} if not args else set().union(*(flatten(x) for x in args))

    kinds = flatten(annotation)
    return bool(kinds & {int, float}) and not kinds & {bool, Any}


def _boolean_problems(model: type[BaseModel], data: Any, loc: tuple[Any, ...] = ()) -> list[tuple[str, Any, str]]:
    """YAML booleans (``yes``, ``true``) given where a number is expected, anywhere in ``data``."""
    problems: list[tuple[str, Any, str]] = []
    if not isinstance(data, Mapping):
        return problems
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        where = (*loc, key)
        if isinstance(value, bool):
            if _takes_number_not_bool(field.annotation):
                problems.append((_dotted(where), value, f'got the boolean {str(value).lower()}; give a number'))
            continue
        inner = _inner_model(field.annotation)
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            continue
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            member = inner
            if inner in _union_members(None) and isinstance(item, Mapping):
                kinds = {m.model_fields['kind'].default: m for m in _union_members(None)}
                member = kinds.get(item.get('kind'), inner)
            problems += _boolean_problems(member, item, where if index is None else (*where, index))
    return problems


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second ``dft:`` section
    would silently replace the first.
    """


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == 'tag:yaml.org,2002:merge':
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key; the schema rejects it later
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f'key {key!r} appears twice in one mapping; keep one of them', key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_config(path: str | Path) -> MLIPConfig:
    """Read and validate a YAML config file; relative structure files resolve against it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([('', str(path), 'config file not found; give the path to a YAML file')], str(path))
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [('', _MISSING, f'not a text file: byte {exc.start} is not UTF-8; give a YAML file')], str(path)
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        raise ConfigError(
            [('', _MISSING, f'not valid YAML{where}: {getattr(exc, "problem", exc)}')], str(path)
        ) from None
    if data is None:
        raise ConfigError([('', _MISSING, 'the file is empty; start from examples/si/config.yaml')], str(path))
    config = parse_config(data, str(path))
    target = config.target
    if target.structure_file is not None:
        resolved = Path(target.structure_file).expanduser()
        if not resolved.is_absolute():
            resolved = (path.parent / resolved).resolve()
        # An explicit composition must match a structure file that already holds several species.
        composition = target.composition if 'composition' in target.model_fields_set else None
        problems = check_structure_file(resolved, target.elements, composition=composition)
        if problems:
            raise ConfigError([('target.structure_file', target.structure_file, p) for p in problems], str(path))
        target.structure_file = str(resolved)
    return config


def check_structure_file(
    path: Path, elements: list[str], min_distance: float = 0.5, composition: Mapping[str, float] | None = None
) -> list[str]:
    """Problems with a user structure file: unreadable, empty, wrong elements, overlapping atoms.

    :param composition: when given and the file holds several species, each species' count
        must be the whole number of atoms closest to its fraction.
    """
    if not path.is_file():
        return [f'file {str(path)!r} not found']
    if path.stat().st_size == 0:
        return [f'file {str(path)!r} is empty']
    try:
        from ase.io import read

        atoms = read(str(path))
    except Exception as exc:
        return [f'ASE cannot read {str(path)!r}: {type(exc).__name__}: {exc}'.strip()]
    if isinstance(atoms, list):
        atoms = atoms[0] if atoms else None
    if atoms is None or len(atoms) == 0:
        return [f'file {str(path)!r} holds no atoms']
    import numpy as np

    problems = []
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(elements))
    if unknown:
        problems.append(f'contains {unknown}, which are not in target.elements {elements}')
    present = sorted(set(symbols))
    if composition and len(present) > 1 and not unknown:
        found = {e: symbols.count(e) / len(symbols) for e in present}
        off = {e for e in present if abs(symbols.count(e) - composition.get(e, 0.0) * len(symbols)) > 0.5 + 1e-9}
        missing = sorted(e for e in composition if e not in found)
        if off or missing:
            shown = ', '.join(f'{e} {f:.3g}' for e, f in found.items())
            problems.append(
                f'holds {shown}, which does not match target.composition {dict(composition)}; '
                'fix one of them (or leave composition out to use the file as it is)'
            )
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
        problems.append('positions or cell contain NaN or infinity')
    elif not all(atoms.pbc) or atoms.cell.rank < 3:
        problems.append('the structure must be a 3D periodic crystal with a full cell')
    elif abs(atoms.cell.volume) < 1e-3:
        problems.append(f'the cell vectors are linearly dependent (volume {atoms.cell.volume:.3g} Å³)')
    else:
        from aiida_mlip_autopipe.common.geometry import closest_pair

        closest = closest_pair(atoms, min_distance)
        if closest is not None:
            i, j, d = closest
            pair = f'atom {i} and its periodic image' if i == j else f'atoms {i} and {j}'
            problems.append(f'{pair} are {d:.3f} Å apart (< {min_distance} Å): overlapping atoms')
    return problems


def check_against_profile(config: MLIPConfig, check_codes: bool = True) -> list[tuple[str, Any, str]]:
    """Checks that need the loaded AiiDA profile: pseudopotential family and codes.

    Returns the problems instead of raising, so the CLI can merge them with others.
    """
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    problems: list[tuple[str, Any, str]] = []
    try:
        family = orm.Group.collection.get(label=config.dft.pseudo_family)
    except NotExistent:
        problems.append(
            (
                'dft.pseudo_family',
                config.dft.pseudo_family,
                'no such pseudopotential family in this profile; run `aiida-mlip-autopipe setup` '
                '(or `setup --sssp` when online) or list them with `aiida-pseudo list`',
            )
        )
    else:
        from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily, PseudoPotentialFamily

        elements = getattr(family, 'elements', None)
        if not isinstance(family, PseudoPotentialFamily):
            problems.append(
                (
                    'dft.pseudo_family',
                    config.dft.pseudo_family,
                    f'the group {family.label!r} is a {type(family).__name__}, not a pseudopotential family; '
                    'list the families with `aiida-pseudo list`',
                )
            )
        elif config.dft.ecutwfc is None and not isinstance(family, CutoffsPseudoPotentialFamily):
            problems.append(
                (
                    'dft.pseudo_family',
                    config.dft.pseudo_family,
                    'family has no recommended cutoffs; set dft.ecutwfc and dft.ecutrho',
                )
            )
        if elements is not None and isinstance(family, PseudoPotentialFamily):
            missing = sorted(set(config.target.elements) - set(elements))
            if missing:
                problems.append(
                    (
                        'dft.pseudo_family',
                        config.dft.pseudo_family,
                        f'family has no pseudopotential for {missing}; it covers {sorted(elements)}. '
                        'Choose another family (e.g. MLIPAutoPipe/Debian/PBE) or install one that has them',
                    )
                )
    if check_codes:
        for section, plugin in _CODE_PLUGINS.items():
            label = getattr(config, section).code
            try:
                code = orm.load_code(label)
            except (NotExistent, MultipleObjectsError, ValueError) as exc:
                problems.append(
                    (f'{section}.code', label, f'{exc}; run `aiida-mlip-autopipe setup` or `verdi code list`')
                )
                continue
            problems += [(f'{section}.code', label, message) for message in _code_problems(code, plugin)]
    if config.dft.oracle is not None:  # issue 9: the benchmark oracle needs no pw.x code and no pseudopotentials
        problems = [problem for problem in problems if problem[0] not in ('dft.pseudo_family', 'dft.code')]
    return problems


#: The CalcJob plugin each section's code must run.
_CODE_PLUGINS = {
    'dft': 'quantumespresso.pw',
    'training': 'mlip_autopipe.pacemaker',
    'exploration': 'mlip_autopipe.lammps',
}


def _code_problems(code: Any, plugin: str) -> list[str]:
    """A code set up for another plugin, or whose executable has vanished from this machine."""
    problems = []
    default = getattr(code, 'default_calc_job_plugin', None)
    if default is not None and default != plugin:
        problems.append(f'code {code.full_label} is set up for {default!r}, not {plugin!r}; choose a {plugin} code')
    executable = getattr(code, 'filepath_executable', None)
    computer = getattr(code, 'computer', None)
    local = computer is not None and computer.transport_type == 'core.local'
    if executable is not None and local and Path(str(executable)).is_absolute():
        import os

        if not (Path(str(executable)).is_file() and os.access(str(executable), os.X_OK)):
            problems.append(
                f'executable {executable} of code {code.full_label} is missing or not executable; '
                'rerun `aiida-mlip-autopipe setup`'
            )
    return problems
