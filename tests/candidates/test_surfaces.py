"""Slabs: Miller indices, layers, vacuum along the normal, the oriented bulk, in-plane strain, adatoms."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from aiida_mlip_autopipe.candidates import surfaces as slabs
from aiida_mlip_autopipe.candidates.kinds import structure_kind, vacuum_gaps


def _slab(
    name='Si', structure='diamond', miller=(1, 0, 0), layers=4, vacuum=6.0, repeat=(1, 1), min_height=0.0, **kwargs
):
    primitive = bulk(name, structure, **kwargs)
    conventional = slabs.conventional_cell(structure, primitive)
    return slabs.build_slab(primitive, conventional, miller, layers, vacuum, repeat, min_height)


@pytest.mark.parametrize(
    ('name', 'structure', 'miller', 'per_layer', 'spacing'),
    [
        ('Al', 'fcc', (1, 1, 1), 1, 4.05 / np.sqrt(3)),
        ('Al', 'fcc', (1, 0, 0), 1, 4.05 / 2),
        ('Si', 'diamond', (1, 0, 0), 1, 5.43 / 4),
        ('Si', 'diamond', (1, 1, 0), 2, 5.43 / np.sqrt(8)),
        ('Fe', 'bcc', (1, 1, 0), 1, 2.87 / np.sqrt(2)),
    ],
)
def test_slab_has_the_layers_vacuum_and_smallest_cell(name, structure, miller, per_layer, spacing):
    lattice = {'Al': 4.05, 'Si': 5.43, 'Fe': 2.87}[name]
    slab = _slab(name, structure, miller, layers=5, vacuum=7.0, a=lattice)
    planes = slabs.atomic_planes(slab)
    assert len(planes) == 5
    assert {len(p) for p in planes} == {per_layer}
    heights = [slab.positions[p[0], 2] for p in planes]
    assert np.diff(heights) == pytest.approx([spacing] * 4, abs=1e-6)
    # The normal is the third cell vector, perpendicular to the plane; 7 Å vacuum on each side.
    assert np.allclose(slab.cell.array[2, :2], 0) and np.allclose(slab.cell.array[:2, 2], 0)
    assert slab.pbc.all() and structure_kind(slab) == 'surface'
    assert slab.positions[:, 2].min() == pytest.approx(7.0)
    assert slab.cell.array[2, 2] - slab.positions[:, 2].max() == pytest.approx(7.0)
    assert vacuum_gaps(slab)[2] == pytest.approx(14.0)


def test_miller_indices_refer_to_the_cubic_cell():
    # fcc(111) and (100) of the cube are hexagonal and square nets, whatever the primitive cell's indices.
    hexagonal = _slab('Al', 'fcc', (1, 1, 1), a=4.05)
    square = _slab('Al', 'fcc', (1, 0, 0), a=4.05)
    assert hexagonal.cell.cellpar()[5] == pytest.approx(60.0)
    assert square.cell.cellpar()[5] == pytest.approx(90.0)
    assert slabs.slab_area(hexagonal) == pytest.approx(np.sqrt(3) / 4 * 4.05**2)
    assert slabs.slab_area(square) == pytest.approx(4.05**2 / 2)


def test_surface_atoms_lose_neighbours_and_inner_ones_keep_them():
    slab = _slab('Al', 'fcc', (1, 1, 1), layers=5, a=4.05, repeat=(2, 2))
    i = neighbor_list('i', slab, 3.0)
    coordination = np.bincount(i, minlength=len(slab))
    planes = slabs.atomic_planes(slab)
    assert set(coordination[planes[0]]) == {9} and set(coordination[planes[-1]]) == {9}
    assert set(coordination[np.concatenate(planes[1:-1])]) == {12}


def test_min_height_adds_vacuum_evenly():
    slab = _slab(vacuum=4.0, min_height=30.0)
    assert slab.cell.array[2, 2] == pytest.approx(30.0)
    bottom, top = slab.positions[:, 2].min(), slab.positions[:, 2].max()
    assert bottom == pytest.approx(30.0 - top)  # centred
    assert bottom > 4.0


def test_repeat_multiplies_the_in_plane_cell():
    one = _slab(repeat=(1, 1))
    four = _slab(repeat=(2, 2))
    assert len(four) == 4 * len(one)
    assert slabs.slab_area(four) == pytest.approx(4 * slabs.slab_area(one))


def test_miller_bravais_indices_and_refusals():
    assert slabs.miller_three([0, 0, 0, 1], hexagonal=True) == (0, 0, 1)
    assert slabs.miller_three([1, 0, -1, 0], hexagonal=True) == (1, 0, 0)
    with pytest.raises(ValueError, match='need a hexagonal lattice'):
        slabs.miller_three([1, 0, -1, 0], hexagonal=False)
    with pytest.raises(ValueError, match=r'must be -\(h \+ k\)'):
        slabs.miller_three([1, 0, 1, 0], hexagonal=True)
    with pytest.raises(ValueError, match='all zero'):
        slabs.miller_three([0, 0, 0], hexagonal=False)
    with pytest.raises(ValueError, match='common factor 2'):
        slabs.miller_three([2, 2, 0], hexagonal=False)
    mg = bulk('Mg', 'hcp', a=3.21, c=5.21)
    slab = slabs.build_slab(mg, slabs.conventional_cell('hcp', mg), (0, 0, 1), 4, 6.0)
    planes = slabs.atomic_planes(slab)
    assert len(planes) == 4
    assert np.diff([slab.positions[p[0], 2] for p in planes]) == pytest.approx([5.21 / 2] * 3)


@pytest.mark.parametrize('miller', [(1, 1, 1), (1, 0, 0), (1, 1, 0)])
def test_oriented_bulk_is_bulk_with_the_slab_plane(miller):
    primitive = bulk('Al', 'fcc', a=4.05)
    cell = slabs.oriented_bulk(primitive, slabs.conventional_cell('fcc', primitive), miller)
    slab = _slab('Al', 'fcc', miller, a=4.05)
    assert all(cell.pbc)
    assert cell.get_volume() / len(cell) == pytest.approx(primitive.get_volume())
    i = neighbor_list('i', cell, 3.0)
    assert set(np.bincount(i)) == {12}
    assert slabs.slab_area(cell) == pytest.approx(slabs.slab_area(slab))
    assert np.allclose(cell.cell.array[2, :2], 0)


def test_oriented_bulk_tells_fcc_from_hcp_stacking():
    # Two (111) planes with a perpendicular cell vector stack AB (hcp); fcc needs three (ABC).
    primitive = bulk('Al', 'fcc', a=4.05)
    cell = slabs.oriented_bulk(primitive, slabs.conventional_cell('fcc', primitive), (1, 1, 1))
    assert len(cell) == 3


def test_in_plane_strain_keeps_the_normal():
    slab = _slab()
    eps = np.array([[0.03, 0.01, 0.02], [0.01, -0.02, 0.02], [0.02, 0.02, 0.05]])
    strained = slabs.in_plane_strain(slab, eps)
    assert np.allclose(strained.positions[:, 2], slab.positions[:, 2])
    assert np.allclose(strained.cell.array[2], slab.cell.array[2])
    assert slabs.slab_area(strained) == pytest.approx(slabs.slab_area(slab) * ((1.03) * (0.98) - 0.01**2))
    with pytest.raises(ValueError, match='collapses'):
        slabs.in_plane_strain(slab, np.diag([-0.99, -0.99, 0.0]))


def test_adatoms_sit_on_the_surface_at_bonding_distance_seeded():
    slab = _slab(repeat=(2, 2))
    first, details = slabs.adatoms(slab, np.random.default_rng(5), count=3)
    again, _ = slabs.adatoms(slab, np.random.default_rng(5), count=3)
    other, _ = slabs.adatoms(slab, np.random.default_rng(6), count=3)
    assert np.array_equal(first.positions, again.positions)
    assert not np.allclose(first.positions, other.positions)
    assert len(first) == len(slab) + 3
    from ase.geometry import get_distances

    for index, side in zip(details['indices'], details['sides'], strict=True):
        _, d = get_distances([first.positions[index]], np.delete(first.positions, index, 0), first.cell, first.pbc)
        assert d.min() >= 0.9 * 2 * 1.11 - 1e-6  # never closer than 0.9 x the Si-Si covalent bond
        assert d.min() < 0.9 * 2 * 1.11 + 0.05  # and in contact, not floating
        z = first.positions[index, 2]
        assert z > slab.positions[:, 2].max() - 1.4 if side == 'top' else z < slab.positions[:, 2].min() + 1.4
    with pytest.raises(ValueError, match='need a slab'):
        slabs.adatoms(bulk('Si', 'diamond', a=5.43), np.random.default_rng(0))


def test_in_plane_repeat_reaches_the_target_square():
    slab = _slab()
    assert slabs.in_plane_repeat(slab, 16) == (2, 2)
    assert slabs.in_plane_repeat(slab, 4) == (1, 1)
    # The fewest cells first (8 cells of 4 atoms, not 9), then the squarest of them.
    assert sorted(slabs.in_plane_repeat(slab, 30)) == [2, 4]
