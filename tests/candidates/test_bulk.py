"""Base structures: prototypes, lattice constants, supercells sized to an atom count."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.candidates.bulk import (
    build_primitive,
    default_lattice_constant,
    reference_volume_per_atom,
    supercell_for_atoms,
)


@pytest.mark.parametrize(
    ('prototype', 'element', 'a', 'n_atoms'),
    [
        ('fcc', 'Al', 4.05, 1),
        ('bcc', 'Fe', 2.87, 1),
        ('diamond', 'Si', 5.43, 2),
        ('sc', 'Po', 3.35, 1),
        ('hcp', 'Mg', 3.21, 2),
    ],
)
def test_default_lattice_constant_reproduces_the_reference_state(prototype, element, a, n_atoms):
    assert default_lattice_constant(prototype, [element], c_over_a=1.624 if prototype == 'hcp' else None) == (
        pytest.approx(a, rel=1e-3)
    )
    atoms = build_primitive(prototype, [element], c_over_a=1.624 if prototype == 'hcp' else None)
    assert len(atoms) == n_atoms
    assert atoms.get_volume() / len(atoms) == pytest.approx(reference_volume_per_atom(element), rel=1e-3)


def test_vegard_average_for_an_alloy():
    a_si = default_lattice_constant('diamond', ['Si'])
    a_ge = default_lattice_constant('diamond', ['Ge'])
    mixed = default_lattice_constant('diamond', ['Si', 'Ge'], {'Si': 0.25, 'Ge': 0.75})
    assert mixed == pytest.approx(0.25 * a_si + 0.75 * a_ge)
    # Mg is hcp in the reference data; on fcc it keeps its volume per atom.
    assert default_lattice_constant('fcc', ['Mg']) == pytest.approx((4 * reference_volume_per_atom('Mg')) ** (1 / 3))


def test_compounds_need_a_lattice_constant():
    nacl = build_primitive('rocksalt', ['Na', 'Cl'], lattice_constant=5.64)
    assert sorted(nacl.get_chemical_symbols()) == ['Cl', 'Na']
    caf2 = build_primitive('fluorite', ['Ca', 'F'], lattice_constant=5.46)
    assert caf2.get_chemical_formula() == 'CaF2'
    with pytest.raises(ValueError, match='lattice_constant'):
        build_primitive('zincblende', ['Ga', 'As'])
    with pytest.raises(ValueError, match='lattice_constant'):
        default_lattice_constant('rocksalt', ['Na', 'Cl'])


def test_unknown_reference_data_is_a_clear_error():
    with pytest.raises(ValueError, match='give target.lattice_constant'):
        reference_volume_per_atom('O')


@pytest.mark.parametrize('target', [1, 2, 5, 8, 16, 31, 32, 64])
@pytest.mark.parametrize('prototype', ['fcc', 'diamond', 'hcp'])
def test_supercell_reaches_the_target_with_the_fewest_cells(prototype, target):
    primitive = bulk('Cu', prototype, a=3.6) if prototype != 'diamond' else bulk('Si', 'diamond', a=5.43)
    supercell, matrix = supercell_for_atoms(primitive, target)
    n_cells = -(-target // len(primitive))
    assert len(supercell) == n_cells * len(primitive) >= target
    assert round(np.linalg.det(matrix)) == n_cells
    assert np.linalg.det(supercell.cell.array) > 0
    assert supercell.get_volume() == pytest.approx(n_cells * primitive.get_volume())
    # No two atoms on top of each other after wrapping.
    if len(supercell) > 1:
        assert supercell.get_all_distances(mic=True)[np.triu_indices(len(supercell), 1)].min() > 2.0


def test_supercell_is_close_to_cubic():
    supercell, _ = supercell_for_atoms(bulk('Al', 'fcc', a=4.05), 32)
    lengths = supercell.cell.lengths()
    angles = supercell.cell.angles()
    assert lengths == pytest.approx([8.1] * 3)
    assert angles == pytest.approx([90.0] * 3)
