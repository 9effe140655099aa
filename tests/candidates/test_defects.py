"""Vacancies, antisites, interstitials: counts, composition, site geometry and minimum distances."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.geometry import get_distances
from hypothesis import given, settings
from hypothesis import strategies as st

from aiida_mlip_autopipe.candidates.bulk import supercell_for_atoms
from aiida_mlip_autopipe.candidates.defects import antisites, interstitial_sites, interstitials, vacancies
from aiida_mlip_autopipe.common.geometry import min_distance


def _cell(prototype: str, element: str, a: float, n: int = 32):
    return supercell_for_atoms(bulk(element, prototype, a=a), n)[0]


def test_vacancies_remove_the_reported_atoms():
    atoms = _cell('fcc', 'Al', 4.05)
    atoms.set_chemical_symbols(['Al', 'Mg'] * 16)
    defective, details = vacancies(atoms, np.random.default_rng(0), 3)
    assert len(defective) == 29
    assert len(details['removed']) == 3 and len(set(details['removed'])) == 3
    assert details['species'] == [atoms[i].symbol for i in details['removed']]
    kept = [i for i in range(32) if i not in details['removed']]
    assert np.allclose(defective.positions, atoms.positions[kept])
    with pytest.raises(ValueError, match='cannot remove'):
        vacancies(atoms, np.random.default_rng(0), 32)


def test_antisites_swap_unlike_pairs_and_keep_the_composition():
    atoms = _cell('fcc', 'Al', 4.05)
    atoms.set_chemical_symbols(['Al'] * 24 + ['Mg'] * 8)
    defective, details = antisites(atoms, np.random.default_rng(1), 3)
    assert sorted(defective.get_chemical_symbols()) == sorted(atoms.get_chemical_symbols())
    changed = np.flatnonzero(np.array(defective.get_chemical_symbols()) != np.array(atoms.get_chemical_symbols()))
    assert sorted(changed.tolist()) == sorted(i for pair in details['pairs'] for i in pair)
    for i, j in details['pairs']:
        assert atoms[i].symbol != atoms[j].symbol
        assert defective[i].symbol == atoms[j].symbol
    with pytest.raises(ValueError, match='only 8 antisite pairs'):
        antisites(atoms, np.random.default_rng(1), 9)
    with pytest.raises(ValueError, match='two species'):
        antisites(_cell('fcc', 'Al', 4.05), np.random.default_rng(1), 1)


@pytest.mark.parametrize(
    ('prototype', 'element', 'a', 'tetrahedral', 'octahedral', 'd_tet', 'd_oct'),
    [
        # Holes per atom and their distance to the nearest atom, in units of a.
        ('fcc', 'Al', 4.05, 2, 1, np.sqrt(3) / 4, 0.5),
        ('bcc', 'Fe', 2.87, 6, 3, np.sqrt(5) / 4, 0.5),
        ('diamond', 'Si', 5.43, 1, 0, np.sqrt(3) / 4, None),
    ],
)
def test_interstitial_sites_of_cubic_lattices(prototype, element, a, tetrahedral, octahedral, d_tet, d_oct):
    atoms = _cell(prototype, element, a)
    tet = interstitial_sites(atoms, 'tetrahedral')
    octa = interstitial_sites(atoms, 'octahedral')
    assert len(tet) == tetrahedral * len(atoms)
    assert len(octa) == octahedral * len(atoms)
    _, dist = get_distances(tet, atoms.positions, cell=atoms.cell, pbc=True)
    assert np.allclose(dist.min(axis=1), d_tet * a, atol=1e-6)
    if d_oct is not None:
        _, dist = get_distances(octa, atoms.positions, cell=atoms.cell, pbc=True)
        assert np.allclose(dist.min(axis=1), d_oct * a, atol=1e-6)
    voronoi = interstitial_sites(atoms, 'voronoi')
    assert len(voronoi) >= len(tet)


def test_hcp_sites_survive_a_strain():
    atoms = _cell('hcp', 'Mg', 3.21)
    atoms.set_cell(atoms.cell.array @ np.diag([1.02, 0.99, 1.01]), scale_atoms=True)
    assert len(interstitial_sites(atoms, 'tetrahedral')) == 2 * len(atoms)
    assert len(interstitial_sites(atoms, 'octahedral')) == len(atoms)


@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 4), min_d=st.floats(1.0, 1.6))
@settings(max_examples=15, deadline=None)
def test_interstitials_keep_the_minimum_distance(seed, count, min_d):
    atoms = _cell('fcc', 'Cu', 3.61)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
    defective, details = interstitials(atoms, np.random.default_rng(seed), count, 'Cu', 'voronoi', min_d)
    assert len(defective) == len(atoms) + count
    assert details['indices'] == list(range(len(atoms), len(atoms) + count))
    _, dist = get_distances(defective.positions[len(atoms) :], defective.positions, cell=atoms.cell, pbc=True)
    for row, index in enumerate(details['indices']):
        dist[row, index] = np.inf
    assert dist.min() >= min_d - 1e-9
    assert min_distance(defective) >= min(min_d, min_distance(atoms)) - 1e-9


def test_interstitials_are_seeded_and_report_what_does_not_fit():
    atoms = _cell('fcc', 'Al', 4.05)
    first, info = interstitials(atoms, np.random.default_rng(4), 2, 'Mg', 'octahedral', 1.6)
    again, _ = interstitials(atoms, np.random.default_rng(4), 2, 'Mg', 'octahedral', 1.6)
    assert np.array_equal(first.positions, again.positions)
    assert first.get_chemical_symbols()[-2:] == ['Mg', 'Mg']
    assert info['n_sites'] == 32
    with pytest.raises(ValueError, match='no tetrahedral interstitial site is 2.5'):
        interstitials(atoms, np.random.default_rng(0), 1, 'Al', 'tetrahedral', 2.5)
    # A cubic fcc cell has 8 tetrahedral and 4 octahedral holes, 1.75-2.03 Å from atoms and each other.
    small = _cell('fcc', 'Al', 4.05, 4)
    full, _ = interstitials(small, np.random.default_rng(0), 12, 'Al', 'voronoi', 1.7)
    assert len(full) == 16
    with pytest.raises(ValueError, match='only 12 voronoi interstitials fit'):
        interstitials(small, np.random.default_rng(0), 13, 'Al', 'voronoi', 1.7)
