"""The molecule and surface parts of the ``target`` section, and the operations that only make sense on them.

``target.molecule`` asks for an isolated molecule (by name from ASE's collections, or from a
file) in a vacuum box, and for a liquid small clusters of it; ``target.surfaces`` asks for
slabs of the bulk lattice by Miller index, layers and vacuum; ``target.shares`` sets the share
of bulk, surface and molecule structures in the candidate pool. The operations ``stretch``
and ``rotate`` (molecules) and ``adatom`` (slabs) join the others of ``generator.operations``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from aiida_mlip_autopipe.config.base import Section, check_relative_path

__all__ = (
    'MIN_VACUUM',
    'AdatomOperation',
    'MoleculeTarget',
    'RotateOperation',
    'StretchOperation',
    'SurfaceTarget',
    'check_vacuum',
)

#: Least vacuum (Å per side) a slab or molecule box may have: periodic images are then
#: 6 Å apart, beyond the electron density tails of pw.x and about an ACE cutoff.
MIN_VACUUM = 3.0


def check_vacuum(value: float) -> float:
    """``value`` if it is enough vacuum per side, else a ``ValueError`` saying why and what to give."""
    if value <= 0:
        raise ValueError(
            f'{value:g} Å is no vacuum: the structure would touch its own periodic image; give at least '
            f'{MIN_VACUUM:g} Å per side (6-10 Å is usual)'
        )
    if value < MIN_VACUUM:
        raise ValueError(
            f'{value:g} Å per side puts periodic images {2 * value:g} Å apart, where DFT and the fit still see '
            f'them; give at least {MIN_VACUUM:g} Å (6-10 Å is usual)'
        )
    return value


class MoleculeTarget(Section):
    """An isolated molecule in a vacuum box; for a liquid, small clusters of it too."""

    name: str | None = Field(
        default=None,
        description="Molecule from ASE's collections (ase.build.molecule: the g2 set and extras), e.g. H2O, CH4, "
        'NH3, CO2, C6H6. Give this or file.',
    )
    file: str | None = Field(
        default=None,
        description='A file ASE reads (xyz, extxyz, ...) with one molecule; its cell, if any, is dropped. Give this '
        'or name.',
    )
    vacuum: float = Field(
        default=6.0,
        le=30,
        description='Vacuum in Å between the atoms and each face of the box (periodic images are twice this apart).',
    )
    cluster_sizes: list[Annotated[int, Field(ge=1, le=64)]] = Field(
        default_factory=lambda: [1],
        min_length=1,
        description='Molecules per base structure: [1] an isolated molecule; [1, 2, 4] adds clusters of 2 and 4, '
        'the small pieces of a liquid. The largest size is also the MD start.',
    )
    clusters_per_size: int = Field(
        default=1, ge=1, le=100, description='Independent clusters (different random packings) of each size above 1.'
    )
    contact_distance: float = Field(
        default=2.0,
        ge=1.0,
        le=6.0,
        description='Closest distance in Å between atoms of different molecules when clusters are built and '
        'molecules rotated (about a hydrogen bond: 1.8-2.0 Å for water).',
    )

    @field_validator('name')
    @classmethod
    def _known_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from aiida_mlip_autopipe.candidates.molecules import check_molecule_name

        return check_molecule_name(value)

    @field_validator('file')
    @classmethod
    def _safe_file(cls, value: str | None) -> str | None:
        return None if value is None else check_relative_path(value, 'file')

    @field_validator('vacuum')
    @classmethod
    def _vacuum(cls, value: float) -> float:
        return check_vacuum(value)

    @model_validator(mode='after')
    def _one_source(self) -> MoleculeTarget:
        if (self.name is None) == (self.file is None):
            raise ValueError('give the molecule by name (e.g. H2O) or by file, not both and not neither')
        return self


class SurfaceTarget(Section):
    """A slab of the bulk lattice: Miller index, atomic layers, vacuum and in-plane size."""

    miller: list[int] = Field(
        description='Miller indices of the surface plane in the conventional cell (cubic cell of cubic prototypes, '
        'hexagonal cell of hcp/wurtzite, where four Miller-Bravais indices [h, k, i, l] are accepted; the cell of a '
        'structure file), e.g. [1, 0, 0], [1, 1, 1], [0, 0, 0, 1].'
    )
    layers: int = Field(default=4, ge=2, le=40, description='Atomic planes in the slab.')
    vacuum: float = Field(
        default=6.0,
        le=40,
        description='Vacuum in Å on each side of the slab (periodic images are twice this apart along the normal).',
    )
    repeat: list[Annotated[int, Field(ge=1, le=12)]] = Field(
        default_factory=lambda: [1, 1],
        min_length=2,
        max_length=2,
        description='Repeats of the smallest surface cell along its two in-plane vectors for the candidates (the MD '
        'start cell is repeated to about exploration.supercell_atoms instead).',
    )

    @field_validator('miller')
    @classmethod
    def _miller(cls, value: list[int]) -> list[int]:
        from aiida_mlip_autopipe.candidates.surfaces import miller_three

        # Whether four indices fit the lattice is checked with the prototype, in TargetSystem.
        miller_three(value, hexagonal=True)
        return value

    @field_validator('vacuum')
    @classmethod
    def _vacuum(cls, value: float) -> float:
        return check_vacuum(value)


class StretchOperation(Section):
    """Lengthen or shorten one bond of a molecule (molecules and clusters only)."""

    kind: Literal['stretch'] = 'stretch'
    range: tuple[float, float] = Field(
        default=(-0.1, 0.15),
        description='Range [low, high] of the relative change of the bond length, drawn uniformly (0.1 = 10 % '
        'longer); each copy stretches one bond drawn at random.',
    )
    copies: int = Field(default=2, ge=1, le=1000, description='Stretched copies made of each input structure.')
    keep_input: bool = Field(default=True, description='Keep the unstretched inputs in the pool too.')

    @field_validator('range')
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f'range {list(value)} is reversed; give [low, high]')
        if low <= -0.5 or high > 1.0:
            raise ValueError(f'range {list(value)} is unphysical; keep it within (-0.5, 1.0]')
        return value


class RotateOperation(Section):
    """Turn each molecule about its centre by a random rotation (molecules and clusters only)."""

    kind: Literal['rotate'] = 'rotate'
    copies: int = Field(default=1, ge=1, le=1000, description='Rotated copies made of each input structure.')
    keep_input: bool = Field(default=True, description='Keep the unrotated inputs in the pool too.')


class AdatomOperation(Section):
    """Put atoms on a surface of a slab (slabs only)."""

    kind: Literal['adatom'] = 'adatom'
    count: int = Field(default=1, ge=1, le=20, description='Adatoms per structure (each on the top or bottom face).')
    element: str | None = Field(default=None, description='Species of the adatoms (default: first element).')
    min_distance: float | None = Field(
        default=None,
        gt=0.5,
        le=4.0,
        description='Closest an adatom may come to any atom, in Å (default: 0.9 × the sum of covalent radii); it '
        'sits as low as this allows at a random point of the surface cell.',
    )
    copies: int = Field(default=1, ge=1, le=1000, description='Copies with adatoms made of each input structure.')
    keep_input: bool = Field(default=True, description='Keep the bare inputs in the pool too.')


#: Largest slab (atoms, with its in-plane repeat) a surface of the config may make.
MAX_SLAB_ATOMS = 600
#: Closest two atomic planes of a surface of the config may be (Å): high-index planes of
#: the primitive lattice lie a fraction of an ångström apart, one atom each.
MIN_PLANE_SPACING = 0.3


def molecule_elements(molecule: MoleculeTarget | None) -> set[str]:
    """The elements of the molecule (by name, or from its file when it can be read here), else none."""
    if molecule is None:
        return set()
    from aiida_mlip_autopipe.candidates import molecules

    try:
        atoms = (
            molecules.molecule_from_name(molecule.name)
            if molecule.name
            else molecules.molecule_from_file(molecule.file)
        )
    except (OSError, ValueError, StopIteration):  # a file not found here is checked when it is read
        return set()
    return set(atoms.get_chemical_symbols())


def lattice_elements(elements: list[str], molecule: MoleculeTarget | None) -> list[str]:
    """The elements on the bulk lattice: ``elements`` less those only a molecule brings.

    The first element is always on the lattice (Si bulk next to SiH4: the lattice is Si; a
    SiGe alloy next to H2: Si and Ge; Cu next to CO: Cu).
    """
    brought = molecule_elements(molecule)
    return [e for i, e in enumerate(elements) if i == 0 or e not in brought]


def available_kinds(target) -> list[str]:
    """The kinds of base structure ``target`` (a ``TargetSystem``) can make, before shares."""
    kinds = []
    if target.prototype is not None or target.structure_file is not None:
        kinds.append('bulk')
    if target.surfaces:
        kinds.append('surface')
    if target.molecule is not None:
        kinds.append('molecule')
    return kinds


def target_kinds(target) -> list[str]:
    """The kinds the candidate pool holds: those available with a share above zero (all of them without shares)."""
    kinds = available_kinds(target)
    if target.shares is None:
        return kinds
    return [kind for kind in kinds if target.shares.get(kind, 0.0) > 0]


def check_surfaces(surfaces: list[SurfaceTarget], data: dict) -> list[tuple[int, str]]:
    """``(index, message)`` for each surface whose Miller index the prototype's lattice cannot make.

    ``data`` holds the target's fields validated before ``surfaces`` (pydantic's
    ``ValidationInfo.data``). With a structure file the lattice is known only when the file is
    read, so only the indices themselves are checked here; the builder checks the rest.
    """
    from aiida_mlip_autopipe.candidates import surfaces as slabs

    prototype = data.get('prototype')
    problems = []
    primitive = None
    if prototype is not None and data.get('elements'):
        from aiida_mlip_autopipe.candidates.bulk import build_primitive

        lattice = lattice_elements(data['elements'], data.get('molecule'))
        composition = data.get('composition')
        try:
            primitive = build_primitive(
                prototype,
                lattice,
                data.get('lattice_constant'),
                data.get('c_over_a'),
                {e: composition[e] for e in lattice} if composition and set(lattice) <= set(composition) else None,
            )
        except (ValueError, KeyError):  # the prototype's own problem, reported by TargetSystem
            primitive = None
    hexagonal = prototype in slabs.HEXAGONAL_PROTOTYPES if prototype is not None else True
    for index, surface in enumerate(surfaces):
        try:
            miller = slabs.miller_three(surface.miller, hexagonal)
        except ValueError as exc:
            problems.append((index, str(exc)))
            continue
        if primitive is None:
            continue
        try:
            conventional = slabs.conventional_cell(prototype, primitive)
            slab = slabs.build_slab(primitive, conventional, miller, surface.layers, surface.vacuum, surface.repeat)
        except (ValueError, RuntimeError) as exc:
            problems.append((index, f'the {prototype} lattice cannot make the {list(surface.miller)} surface: {exc}'))
            continue
        spacing = float(np.ptp(slab.positions[:, 2])) / (surface.layers - 1)
        if spacing < MIN_PLANE_SPACING:
            problems.append(
                (
                    index,
                    f'the {list(surface.miller)} planes of {prototype} are {spacing:.2f} Å apart, a slab of '
                    f'{surface.layers} of them {spacing * (surface.layers - 1):.1f} Å thick: a vicinal cut, not a '
                    'surface model; choose a lower-index plane',
                )
            )
            continue
        if len(slab) > MAX_SLAB_ATOMS:
            per_layer = len(slab) // surface.layers
            problems.append(
                (
                    index,
                    f'the {list(surface.miller)} slab of {surface.layers} layers holds {len(slab)} atoms '
                    f'({per_layer} per layer): more than {MAX_SLAB_ATOMS} for DFT; choose a lower-index plane, '
                    'fewer layers or a smaller repeat',
                )
            )
    return problems


def check_kinds(target) -> None:
    """Check that surfaces have a lattice and that ``shares`` sum to 1 over kinds the target has."""
    if target.surfaces and target.prototype is None and target.structure_file is None:
        raise ValueError('surfaces are cut from the bulk lattice: give prototype or structure_file too')
    available = available_kinds(target)
    if target.shares is not None:
        total = sum(target.shares.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f'shares {dict(target.shares)} sum to {total:g}; they must sum to 1')
        where = {'bulk': 'prototype or structure_file', 'surface': 'surfaces', 'molecule': 'molecule'}
        for kind, share in target.shares.items():
            if share > 0 and kind not in available:
                raise ValueError(f'shares.{kind} is {share:g} but the target has no {where[kind]}')
    molecule_only = target.molecule is not None and target.molecule.name is not None and available == ['molecule']
    if molecule_only and 'composition' not in target.model_fields_set:
        from aiida_mlip_autopipe.candidates.molecules import molecule_from_name

        symbols = molecule_from_name(target.molecule.name).get_chemical_symbols()
        if set(symbols) == set(target.elements):
            # A molecule's own stoichiometry, not an equimolar guess (H2O: H 2/3, O 1/3).
            target.__dict__['composition'] = {e: symbols.count(e) / len(symbols) for e in target.elements}
