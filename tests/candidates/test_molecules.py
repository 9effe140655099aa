"""Molecules: names from ASE's collections, the vacuum box, clusters without overlaps, stretches, rotations."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from aiida_mlip_autopipe.candidates import molecules as mol
from aiida_mlip_autopipe.candidates.kinds import structure_kind, vacuum_gaps


def test_names_come_from_ase_collections_and_typos_get_a_hint():
    assert {'H2O', 'CH4', 'NH3', 'C6H6', 'C60'} <= set(mol.molecule_names())
    assert mol.check_molecule_name('CH4') == 'CH4'
    with pytest.raises(ValueError, match="unknown molecule 'h2o'; did you mean 'H2O'"):
        mol.check_molecule_name('h2o')
    with pytest.raises(ValueError, match="unknown molecule 'Unobtainium'"):
        mol.check_molecule_name('Unobtainium')


def test_box_pads_every_face_and_is_not_periodic():
    water = mol.box(mol.molecule_from_name('H2O'), 5.0)
    assert structure_kind(water) == 'molecule' and not water.pbc.any()
    assert np.allclose(water.positions.min(axis=0), 5.0)
    assert np.allclose(water.cell.lengths() - water.positions.max(axis=0), 5.0)
    assert vacuum_gaps(water) == pytest.approx(water.cell.lengths() - np.ptp(water.positions, axis=0))
    assert np.allclose(np.linalg.norm(water.positions[1] - water.positions[0]), 0.9686, atol=1e-3)
    with pytest.raises(ValueError, match='vacuum must be positive'):
        mol.box(water, 0.0)


def test_molecule_from_file_drops_the_cell(tmp_path):
    path = tmp_path / 'ammonia.xyz'
    molecule('NH3').write(path)
    atoms = mol.molecule_from_file(str(path))
    assert atoms.get_chemical_formula() == 'H3N'
    assert not atoms.pbc.any() and atoms.cell.rank == 0


@pytest.mark.parametrize('count', [2, 4, 8])
def test_clusters_have_whole_molecules_in_contact_never_overlapping(count):
    water = mol.molecule_from_name('H2O')
    cluster = mol.build_cluster(water, count, np.random.default_rng(3), contact_distance=2.0)
    assert len(cluster) == 3 * count
    groups = [list(range(3 * k, 3 * k + 3)) for k in range(count)]
    assert mol.fragments(cluster) == groups  # every molecule whole, none bonded to another
    closest = mol.intermolecular_distance(cluster, groups)
    assert 2.0 <= closest < 2.05  # in contact, not overlapping
    for group in groups:  # rigid copies of the molecule
        part = cluster[group]
        assert sorted(np.round(part.get_all_distances().ravel(), 6)) == pytest.approx(
            sorted(np.round(water.get_all_distances().ravel(), 6)), abs=1e-6
        )
    # Compact: every molecule touches another (no molecule far out in the vacuum).
    for index, group in enumerate(groups):
        others = [i for k, g in enumerate(groups) if k != index for i in g]
        gap = np.linalg.norm(cluster.positions[group][:, None] - cluster.positions[others][None], axis=2).min()
        assert gap < 2.05


def test_clusters_are_seeded():
    water = mol.molecule_from_name('H2O')
    a = mol.build_cluster(water, 4, np.random.default_rng(11))
    b = mol.build_cluster(water, 4, np.random.default_rng(11))
    c = mol.build_cluster(water, 4, np.random.default_rng(12))
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_stretch_changes_one_bond_and_keeps_the_rest():
    water = mol.box(mol.molecule_from_name('H2O'), 5.0)
    stretched, details = mol.stretch_bond(water, np.random.default_rng(0), (0.1, 0.1))
    i, j = details['bond']
    assert details['fraction'] == pytest.approx(0.1)
    assert stretched.get_distance(i, j) == pytest.approx(1.1 * water.get_distance(i, j))
    other = next(k for k in (1, 2) if k not in (i, j))
    assert stretched.get_distance(0, other) == pytest.approx(water.get_distance(0, other))
    assert np.allclose(stretched.cell.array, water.cell.array)
    with pytest.raises(ValueError, match='no bond'):
        mol.stretch_bond(mol.box(molecule('H'), 5.0), np.random.default_rng(0))


def test_stretch_in_a_ring_moves_one_atom():
    benzene = mol.molecule_from_name('C6H6')
    carbon_bond = next(p for p in mol.bonds(benzene) if benzene[p[0]].symbol == benzene[p[1]].symbol == 'C')
    groups = [list(range(len(benzene)))]
    for seed in range(40):
        stretched, details = mol.stretch_bond(benzene, np.random.default_rng(seed), (0.05, 0.05), groups)
        if tuple(details['bond']) == carbon_bond:
            moved = np.flatnonzero(np.linalg.norm(stretched.positions - benzene.positions, axis=1) > 1e-9)
            assert list(moved) == [carbon_bond[1]]
            return
    pytest.fail('no C-C bond drawn in 40 seeds')


def test_rotations_keep_molecules_rigid_and_apart():
    water = mol.molecule_from_name('H2O')
    cluster = mol.box(mol.build_cluster(water, 3, np.random.default_rng(1)), 5.0)
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    rotated, details = mol.rotate_molecules(cluster, np.random.default_rng(2), 2.0, groups)
    assert details['molecules'] == 3 and len(details['angles_deg']) == 3
    assert mol.intermolecular_distance(rotated, groups) >= 2.0 - 1e-9
    for group in groups:
        assert np.allclose(rotated[group].get_all_distances(), cluster[group].get_all_distances())
        assert not np.allclose(rotated.positions[group], cluster.positions[group])
    # Refitted box, same vacuum.
    assert np.allclose(rotated.positions.min(axis=0), 5.0)
    again, _ = mol.rotate_molecules(cluster, np.random.default_rng(2), 2.0, groups)
    assert np.array_equal(again.positions, rotated.positions)


def test_random_rotations_are_proper_and_uniform():
    rng = np.random.default_rng(0)
    rotations = [mol.random_rotation(rng) for _ in range(2000)]
    for r in rotations[:20]:
        assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    # A uniform rotation sends z anywhere on the sphere: mean of the image ~ 0, <z_z^2> ~ 1/3.
    images = np.array([r @ [0, 0, 1] for r in rotations])
    assert np.abs(images.mean(axis=0)).max() < 0.05
    assert np.mean(images[:, 2] ** 2) == pytest.approx(1 / 3, abs=0.03)
