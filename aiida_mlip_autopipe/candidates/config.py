"""The ``target`` and ``generator`` sections: what material, and how the first candidate pool is built."""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aiida_mlip_autopipe.candidates.systems import (
    AdatomOperation,
    MoleculeTarget,
    RotateOperation,
    StretchOperation,
    SurfaceTarget,
)
from aiida_mlip_autopipe.config.base import Section, check_relative_path, chemical_symbols

__all__ = (
    'PROTOTYPE_SUBLATTICES',
    'AdatomOperation',
    'AntisiteOperation',
    'GeneratorConfig',
    'InterstitialOperation',
    'MoleculeTarget',
    'Operation',
    'RattleOperation',
    'RotateOperation',
    'SQSConfig',
    'StrainOperation',
    'StretchOperation',
    'SurfaceTarget',
    'TargetSystem',
    'VacancyOperation',
)

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


class TargetSystem(Section):
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
    # issue 16: molecules and surfaces as base structures, and the share of each kind in the pool.
    molecule: MoleculeTarget | None = Field(
        default=None,
        description='An isolated molecule (and, for a liquid, small clusters of it) in a vacuum box; alone or next '
        'to a bulk lattice (prototype or structure_file).',
    )
    surfaces: list[SurfaceTarget] = Field(
        default_factory=list,
        description='Slabs cut from the bulk lattice (prototype or structure_file) by Miller index, layers and vacuum.',
    )
    shares: dict[Literal['bulk', 'surface', 'molecule'], Annotated[float, Field(ge=0, le=1)]] | None = Field(
        default=None,
        description='Share of bulk, surface and molecule structures in the candidate pool, summing to 1, e.g. '
        '{bulk: 0.5, surface: 0.5}; a kind left out gets none. Default: every kind the target has, in proportion '
        'to how many candidates each makes.',
    )

    @field_validator('elements')
    @classmethod
    def _known_elements(cls, value: list[str]) -> list[str]:
        symbols = chemical_symbols()
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
        if self.prototype is None and self.structure_file is None and self.molecule is None:
            raise ValueError('give either prototype (e.g. diamond) or structure_file (or a molecule)')
        if self.prototype is not None and self.structure_file is not None:
            raise ValueError('give prototype or structure_file, not both')
        lattice = self.lattice_elements  # issue 16: without the elements only a molecule has
        if self.prototype is not None and PROTOTYPE_SUBLATTICES[self.prototype] > len(lattice):
            raise ValueError(f'prototype {self.prototype} needs {PROTOTYPE_SUBLATTICES[self.prototype]} elements')
        if self.prototype is not None and PROTOTYPE_SUBLATTICES[self.prototype] > 1:
            if len(lattice) > PROTOTYPE_SUBLATTICES[self.prototype]:
                raise ValueError(
                    f'prototype {self.prototype} has two sublattices and cannot say which one {lattice} '
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

    @field_validator('molecule')
    @classmethod
    def _molecule_elements(cls, value: MoleculeTarget | None, info: ValidationInfo) -> MoleculeTarget | None:
        elements = info.data.get('elements')
        if value is None or value.name is None or not elements:
            return value
        from aiida_mlip_autopipe.candidates.molecules import molecule_from_name

        unknown = sorted(set(molecule_from_name(value.name).get_chemical_symbols()) - set(elements))
        if unknown:
            _raise_at(('name',), value.name, f'{value.name} contains {unknown}, which are not in target.elements')
        return value

    @field_validator('surfaces')
    @classmethod
    def _surfaces_fit_the_lattice(cls, value: list[SurfaceTarget], info: ValidationInfo) -> list[SurfaceTarget]:
        from aiida_mlip_autopipe.candidates.systems import check_surfaces

        for index, message in check_surfaces(value, info.data):
            _raise_at((index, 'miller'), value[index].miller, message)
        return value

    @model_validator(mode='after')
    def _kinds(self) -> TargetSystem:
        from aiida_mlip_autopipe.candidates.systems import check_kinds

        check_kinds(self)
        return self

    @property
    def lattice_elements(self) -> list[str]:
        """The elements of the bulk lattice: all of them, less those only the molecule brings (issue 16)."""
        from aiida_mlip_autopipe.candidates.systems import lattice_elements

        return lattice_elements(self.elements, self.molecule)

    @property
    def lattice_composition(self) -> dict[str, float]:
        """``composition`` over :attr:`lattice_elements`, renormalised (what SQS and Vegard's law use)."""
        lattice = self.lattice_elements
        comp = {e: (self.composition or {}).get(e, 1.0 / len(lattice)) for e in lattice}
        total = sum(comp.values())
        return {e: x / total for e, x in comp.items()}

    @property
    def kinds(self) -> list[str]:
        """The kinds of base structure the target has (``bulk``, ``surface``, ``molecule``), shares allowing."""
        from aiida_mlip_autopipe.candidates.systems import target_kinds

        return target_kinds(self)

    @property
    def is_alloy(self) -> bool:
        """Whether several elements share one sublattice (needs SQS)."""
        if self.prototype is None:
            return False
        return len(self.lattice_elements) > PROTOTYPE_SUBLATTICES[self.prototype]


class StrainOperation(Section):
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


class RattleOperation(Section):
    """Gaussian displacement of every atom."""

    kind: Literal['rattle'] = 'rattle'
    stdev: float = Field(
        default=0.05, gt=0, le=0.5, description='Standard deviation in Å of the Gaussian displacement per axis.'
    )
    copies: int = Field(default=2, ge=1, le=1000, description='Rattled copies made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unrattled inputs in the pool too (and as parents of the new ones).'
    )


def _min_atoms_field() -> Any:
    """The ``min_atoms`` field of every defect operation (vacancy, antisite, interstitial): one rule for all three."""
    return Field(
        default=8,
        ge=2,
        le=10_000,
        description='Atoms a cell must have before the defect is made: a smaller input is repeated until it has '
        'them (slabs in-plane only), so no defect is cut from a 2-atom cell (which left a 1-atom fcc-like cell).',
    )


class VacancyOperation(Section):
    """Remove atoms at random."""

    kind: Literal['vacancy'] = 'vacancy'
    count: int = Field(default=1, ge=1, le=100, description='Vacancies per structure.')
    min_atoms: int = _min_atoms_field()
    copies: int = Field(default=1, ge=1, le=1000, description='Defective copies made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the perfect inputs in the pool too (and as parents of the new ones).'
    )


class AntisiteOperation(Section):
    """Swap two atoms of different species (alloys only)."""

    kind: Literal['antisite'] = 'antisite'
    count: int = Field(default=1, ge=1, le=100, description='Swapped pairs per structure.')
    min_atoms: int = _min_atoms_field()
    copies: int = Field(default=1, ge=1, le=1000, description='Copies with swapped pairs made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unswapped inputs in the pool too (and as parents of the new ones).'
    )


class InterstitialOperation(Section):
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
    min_atoms: int = _min_atoms_field()
    copies: int = Field(default=1, ge=1, le=1000, description='Copies with interstitials made of each input structure.')
    keep_input: bool = Field(
        default=True, description='Keep the unfilled inputs in the pool too (and as parents of the new ones).'
    )


Operation = Annotated[
    StrainOperation
    | RattleOperation
    | VacancyOperation
    | AntisiteOperation
    | InterstitialOperation
    | StretchOperation
    | RotateOperation
    | AdatomOperation,
    Field(discriminator='kind'),
]


def _raise_at(loc: tuple, value, message: str) -> None:
    """Raise a validation error located at ``loc`` below the field being validated (issue 16)."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails, PydanticCustomError

    error = PydanticCustomError('value_error', '{message}', {'message': message})
    raise ValidationError.from_exception_data('TargetSystem', [InitErrorDetails(type=error, loc=loc, input=value)])


class SQSConfig(Section):
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


class GeneratorConfig(Section):
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
