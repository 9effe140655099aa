"""Operations on one structure of the candidate pool: what each ``generator.operations`` entry does.

:func:`apply_operation` maps one configured operation (a ``*Operation`` model of
:mod:`~aiida_mlip_autopipe.candidates.config`) and one random stream to one new structure and a
JSON-compatible record of what was done, by calling the pure-ASE builders (distortions, defects,
molecules, surfaces). :data:`APPLIES_TO` says which kinds of structure each operation acts on.
:func:`~aiida_mlip_autopipe.candidates.builder.build_candidates` decides which structures it is
applied to, how often and with which random stream; this module knows nothing of the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from aiida_mlip_autopipe.candidates import defects as _defects
from aiida_mlip_autopipe.candidates import distortions as _distortions
from aiida_mlip_autopipe.candidates import molecules as _molecules
from aiida_mlip_autopipe.candidates import surfaces as _surfaces
from aiida_mlip_autopipe.candidates.system_bases import molecule_groups

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('APPLIES_TO', 'OPERATION_KINDS', 'apply_operation', 'large_enough')

#: Operation kinds in the order the docs list them; also the ``origin`` they give.
OPERATION_KINDS = ('strain', 'rattle', 'vacancy', 'antisite', 'interstitial', 'stretch', 'rotate', 'adatom')
#: The kinds of structure each operation applies to; the others pass through it unchanged.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    'strain': ('bulk', 'surface'),
    'rattle': ('bulk', 'surface', 'molecule'),
    'vacancy': ('bulk', 'surface'),
    'antisite': ('bulk', 'surface'),
    'interstitial': ('bulk',),
    'stretch': ('molecule',),
    'rotate': ('molecule',),
    'adatom': ('surface',),
}


def apply_operation(
    operation: Any,
    atoms: Atoms,
    rng: np.random.Generator,
    elements: list[str],
    system: str = 'bulk',
    contact_distance: float = 2.0,
) -> tuple[Atoms, dict]:
    """Apply one configured operation (a ``*Operation`` model of the config) to ``atoms`` of kind ``system``.

    ``contact_distance`` is the closest two molecules may come when they are rotated.
    """
    kind = operation.kind
    if system not in APPLIES_TO.get(kind, ()):
        raise ValueError(f'{kind} does not apply to {system} structures')
    if kind == 'strain' and system == 'surface':
        return _surfaces.random_in_plane_strain(atoms, rng, tuple(operation.volumetric), operation.shear)
    if kind == 'strain':
        return _distortions.random_strain(atoms, rng, tuple(operation.volumetric), operation.shear)
    if kind in ('stretch', 'rotate'):
        groups = molecule_groups(atoms)
        if kind == 'stretch':
            return _molecules.stretch_bond(atoms, rng, tuple(operation.range), groups)
        return _molecules.rotate_molecules(atoms, rng, contact_distance, groups)
    if kind == 'adatom':
        return _surfaces.adatoms(
            atoms, rng, operation.count, operation.element or elements[0], min_distance=operation.min_distance
        )
    if kind == 'rattle':
        return _distortions.rattle(atoms, rng, operation.stdev)
    if kind in ('vacancy', 'antisite', 'interstitial'):
        atoms, repeat = large_enough(atoms, operation.min_atoms, in_plane_only=system == 'surface')
        made, info = _defect(kind, operation, atoms, rng, elements)
        if repeat != (1, 1, 1):
            info = {**info, 'repeated': list(repeat)}
        return made, info
    raise ValueError(f'unknown operation kind {kind!r}; allowed: {", ".join(OPERATION_KINDS)}')


def large_enough(atoms: Atoms, min_atoms: int, in_plane_only: bool = False) -> tuple[Atoms, tuple[int, int, int]]:
    """``atoms`` repeated along its shortest axes until it holds at least ``min_atoms`` atoms.

    A defect in a 2-atom cell is a defect at 50 % concentration: a vacancy there leaves a 1-atom
    cell of another phase (1.2 eV/atom above diamond Si). Slabs are repeated in-plane only.
    """
    repeat = [1, 1, 1]
    axes = (0, 1) if in_plane_only else (0, 1, 2)
    lengths = atoms.cell.lengths()
    while len(atoms) * repeat[0] * repeat[1] * repeat[2] < min_atoms:
        shortest = min(axes, key=lambda a: lengths[a] * repeat[a])
        repeat[shortest] += 1
    return (atoms.repeat(repeat) if repeat != [1, 1, 1] else atoms), tuple(repeat)


def _defect(kind: str, operation: Any, atoms: Atoms, rng: np.random.Generator, elements: list[str]) -> tuple:
    if kind == 'vacancy':
        return _defects.vacancies(atoms, rng, operation.count)
    if kind == 'antisite':
        return _defects.antisites(atoms, rng, operation.count)
    if kind == 'interstitial':
        return _defects.interstitials(
            atoms,
            rng,
            count=operation.count,
            element=operation.element or elements[0],
            sites=operation.sites,
            min_distance=operation.min_distance,
        )
    raise ValueError(f'unknown operation kind {kind!r}; allowed: {", ".join(OPERATION_KINDS)}')
