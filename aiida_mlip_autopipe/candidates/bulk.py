"""Base structures: crystal prototypes, user structure files and supercells of a given size.

Everything here is plain ASE (``Atoms`` in, ``Atoms`` out) so it can be tested and used
without a database; :mod:`aiida_mlip_autopipe.candidates.functions` wraps it for AiiDA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'ONE_SUBLATTICE_PROTOTYPES',
    'build_primitive',
    'default_lattice_constant',
    'reference_volume_per_atom',
    'supercell_for_atoms',
    'supercell_matrix',
)

#: Prototypes with a single site type: an alloy on them is one mixed sublattice (SQS).
ONE_SUBLATTICE_PROTOTYPES = ('fcc', 'bcc', 'hcp', 'diamond', 'sc')

#: Atoms per conventional cell of the one-sublattice prototypes (volume = a³ / this,
#: except hcp, whose volume per atom is √3/4 · a² · c).
_ATOMS_PER_CUBE = {'fcc': 4, 'bcc': 2, 'sc': 1, 'diamond': 8}

#: Chemical formula of each two-sublattice prototype from its two elements.
_COMPOUND_FORMULA = {
    'rocksalt': '{0}{1}',
    'zincblende': '{0}{1}',
    'cesiumchloride': '{0}{1}',
    'wurtzite': '{0}{1}',
    'fluorite': '{0}{1}2',
}


def reference_volume_per_atom(element: str) -> float:
    """Volume per atom (Å³) of ``element`` in ASE's reference crystal structure.

    Volumes, not lattice constants, are what carry over between structures (Mg is hcp
    in the reference data but may be wanted on an fcc lattice).
    """
    from ase.build import bulk

    try:
        atoms = bulk(element)
    except (ValueError, RuntimeError, KeyError, NotImplementedError) as exc:
        raise ValueError(
            f'ASE has no crystal reference data for {element} ({exc}); give target.lattice_constant'
        ) from None
    return float(atoms.get_volume() / len(atoms))


def _lattice_constant_from_volume(prototype: str, volume: float, c_over_a: float | None) -> float:
    if prototype == 'hcp':
        ratio = c_over_a or math.sqrt(8.0 / 3.0)
        return (4.0 * volume / (math.sqrt(3.0) * ratio)) ** (1.0 / 3.0)
    return (_ATOMS_PER_CUBE[prototype] * volume) ** (1.0 / 3.0)


def default_lattice_constant(
    prototype: str,
    elements: Sequence[str],
    composition: Mapping[str, float] | None = None,
    c_over_a: float | None = None,
) -> float:
    """Lattice constant a (Å) of a one-sublattice prototype from elemental reference volumes.

    For alloys it is Vegard's law: the composition-weighted mean of each element's
    lattice constant on this prototype.
    """
    if prototype not in ONE_SUBLATTICE_PROTOTYPES:
        raise ValueError(f'no default lattice constant for prototype {prototype!r}; give target.lattice_constant')
    composition = dict(composition or {e: 1.0 / len(elements) for e in elements})
    total = sum(composition[e] for e in elements)
    return float(
        sum(
            composition[e] / total * _lattice_constant_from_volume(prototype, reference_volume_per_atom(e), c_over_a)
            for e in elements
        )
    )


def build_primitive(
    prototype: str,
    elements: Sequence[str],
    lattice_constant: float | None = None,
    c_over_a: float | None = None,
    composition: Mapping[str, float] | None = None,
) -> Atoms:
    """The primitive cell of ``prototype``.

    For one-sublattice prototypes every site holds ``elements[0]``; when several
    elements are given, the lattice is meant to be decorated by SQS afterwards. For the
    two-sublattice prototypes (rocksalt, ...) ``elements`` are ``[A, B]`` in formula order
    and a lattice constant is required.
    """
    from ase.build import bulk

    if prototype in ONE_SUBLATTICE_PROTOTYPES:
        a = lattice_constant or default_lattice_constant(prototype, elements, composition, c_over_a)
        kwargs: dict[str, Any] = {'a': a}
        if prototype == 'hcp':
            kwargs['c'] = a * (c_over_a or math.sqrt(8.0 / 3.0))
        return bulk(elements[0], prototype, **kwargs)
    if prototype not in _COMPOUND_FORMULA:
        raise ValueError(f'unknown prototype {prototype!r}')
    if lattice_constant is None:
        raise ValueError(f'prototype {prototype} needs target.lattice_constant')
    if len(elements) != 2:
        raise ValueError(f'prototype {prototype} takes exactly two elements, got {list(elements)}')
    formula = _COMPOUND_FORMULA[prototype].format(*elements)
    kwargs = {'a': lattice_constant}
    if prototype == 'wurtzite':
        kwargs['c'] = lattice_constant * (c_over_a or math.sqrt(8.0 / 3.0))
    return bulk(formula, prototype, **kwargs)


def supercell_matrix(cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Integer matrix ``P`` with ``det P = n_cells`` whose supercell ``P @ cell`` is closest to a cube.

    Near-cubic supercells maximise the shortest periodic image distance for a given
    number of atoms, which matters for defects and for the DFT cost per atom.
    """
    from ase.build import find_optimal_cell_shape

    if n_cells < 1:
        raise ValueError(f'n_cells must be at least 1, got {n_cells}')
    if n_cells == 1:
        return np.eye(3, dtype=int)
    matrix = find_optimal_cell_shape(np.asarray(cell), n_cells, 'sc', verbose=False)
    if matrix is None:  # pragma: no cover - ASE finds one within its search limits for small n
        raise ValueError(f'no supercell of {n_cells} cells found')
    matrix = np.asarray(np.rint(matrix), dtype=int)
    if round(abs(np.linalg.det(matrix))) != n_cells:  # pragma: no cover - guarded by ASE
        raise ValueError(f'supercell matrix {matrix.tolist()} does not hold {n_cells} cells')
    return matrix


def supercell_for_atoms(atoms: Atoms, target_atoms: int) -> tuple[Atoms, np.ndarray]:
    """The most cubic supercell of ``atoms`` with the fewest cells reaching ``target_atoms`` atoms.

    Returns the supercell and its integer matrix (relative to the cell of ``atoms``).
    """
    from ase.build import make_supercell

    n_cells = max(1, math.ceil(target_atoms / len(atoms)))
    matrix = supercell_matrix(atoms.cell.array, n_cells)
    supercell = make_supercell(atoms, matrix, wrap=True)
    if np.linalg.det(supercell.cell.array) < 0:
        # A left-handed cell confuses some codes (pw.x reports a negative volume).
        supercell.set_cell(-supercell.cell.array, scale_atoms=False)
        supercell.wrap()
    return supercell, matrix
