"""The candidate pool with surfaces and molecules: counts, kinds, which operations apply, shares, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.candidates.builder import build_candidates
from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height, structure_kind
from aiida_mlip_autopipe.candidates.molecules import intermolecular_distance
from aiida_mlip_autopipe.candidates.surfaces import atomic_planes
from aiida_mlip_autopipe.candidates.system_bases import molecule_groups
from aiida_mlip_autopipe.config import parse_config


def _config(target, operations=(), **generator):
    return parse_config({'target': target, 'generator': {'operations': list(operations), **generator}})


WATER = {'elements': ['H', 'O'], 'molecule': {'name': 'H2O', 'cluster_sizes': [1, 3], 'clusters_per_size': 2}}
SI_SLAB = {
    'elements': ['Si'],
    'prototype': 'diamond',
    'supercell_atoms': [8],
    'surfaces': [{'miller': [1, 0, 0], 'layers': 4, 'vacuum': 6.0, 'repeat': [2, 2]}],
}


def _same(a, b):
    assert [c.name for c in a.candidates] == [c.name for c in b.candidates]
    for x, y in zip(a.candidates, b.candidates, strict=True):
        assert np.array_equal(x.atoms.positions, y.atoms.positions)
        assert np.array_equal(x.atoms.cell.array, y.atoms.cell.array)


def test_water_pool_counts_kinds_and_no_overlaps():
    operations = [{'kind': 'stretch', 'copies': 2}, {'kind': 'rotate', 'copies': 1}, {'kind': 'rattle', 'copies': 1}]
    pool = build_candidates(_config(WATER, operations), seed=4)
    # 3 bases (1 molecule, 2 clusters of 3) -> +6 stretched = 9 -> +9 rotated = 18 -> +18 rattled = 36
    assert len(pool.candidates) == 36
    assert [c.origin for c in pool.candidates[:3]] == ['molecule', 'cluster', 'cluster']
    assert {c.kind for c in pool.candidates} == {'molecule'}
    assert pool.base['kinds'] == {'molecule': 36}
    for candidate in pool.candidates:
        atoms = candidate.atoms
        assert structure_kind(atoms) == 'molecule' and not atoms.pbc.any()
        # Vacuum: at least 6 Å (the default) between the atoms and every face, minus the rattle.
        assert atoms.positions.min() > 6.0 - 0.5
        assert (atoms.cell.lengths() - atoms.positions.max(axis=0)).min() > 6.0 - 0.5
        groups = molecule_groups(atoms)
        if len(groups) > 1:
            assert intermolecular_distance(atoms, groups) > 1.6  # contact 2.0 Å, rattled by 0.05 Å
    assert [len(c.atoms) for c in pool.candidates[:3]] == [3, 9, 9]


def test_operations_that_do_not_apply_pass_structures_through():
    operations = [{'kind': 'strain', 'copies': 2}, {'kind': 'vacancy'}, {'kind': 'stretch', 'copies': 1}]
    pool = build_candidates(_config(WATER, operations), seed=0)
    assert len(pool.candidates) == 6  # strain and vacancy skip molecules; the stretch doubles the 3 bases
    assert any('strain' in w and 'the pool has none' in w for w in pool.warnings)
    slab_pool = build_candidates(
        _config({**SI_SLAB, 'shares': {'surface': 1.0}}, [{'kind': 'stretch'}, {'kind': 'interstitial'}]), seed=0
    )
    assert len(slab_pool.candidates) == 1


def test_slab_operations_strain_in_plane_and_add_adatoms():
    operations = [{'kind': 'strain', 'copies': 2, 'volumetric': [0.02, 0.04]}, {'kind': 'adatom', 'copies': 1}]
    pool = build_candidates(_config({**SI_SLAB, 'shares': {'surface': 1.0}}, operations), seed=1)
    base = pool.candidates[0]
    assert base.kind == 'surface' and len(atomic_planes(base.atoms)) == 4 and len(base.atoms) == 16
    # Tall enough for one k-point along the normal at the labelling's spacing (0.3 Å⁻¹ by default).
    assert base.atoms.cell.array[2, 2] == pytest.approx(single_kpoint_height(0.3))
    assert all(c.atoms.pbc.all() and structure_kind(c.atoms) == 'surface' for c in pool.candidates)
    strained = [c for c in pool.candidates if c.history == ['surface', 'strain']]
    assert len(strained) == 2
    for candidate in strained:
        assert np.allclose(candidate.atoms.cell.array[2], base.atoms.cell.array[2])  # normal untouched
        assert np.allclose(candidate.atoms.positions[:, 2], base.atoms.positions[:, 2])
        assert 1.04 < candidate.details['area_ratio'] < 1.09
    adatoms = [c for c in pool.candidates if c.origin == 'adatom']
    assert len(adatoms) == 3 and all(len(c.atoms) == 17 for c in adatoms)


def test_shares_set_the_mix_of_the_pool():
    operations = [{'kind': 'strain', 'copies': 3}, {'kind': 'rattle', 'copies': 2}]
    half = build_candidates(_config({**SI_SLAB, 'shares': {'bulk': 0.5, 'surface': 0.5}}, operations), seed=2)
    kinds = [c.kind for c in half.candidates]
    assert kinds.count('bulk') == kinds.count('surface') == 12
    quarter = build_candidates(
        _config({**SI_SLAB, 'shares': {'bulk': 0.25, 'surface': 0.75}}, operations, max_candidates=16), seed=2
    )
    kinds = [c.kind for c in quarter.candidates]
    assert (kinds.count('bulk'), kinds.count('surface')) == (4, 12)
    assert any('target.shares' in w for w in quarter.warnings)
    # Lineage stays valid across the kinds: every parent is a member of the same kind.
    for candidate in quarter.candidates:
        if candidate.parent is not None:
            assert quarter.candidates[candidate.parent].kind == candidate.kind
    surface_only = build_candidates(_config({**SI_SLAB, 'shares': {'surface': 1.0}}, operations), seed=2)
    assert {c.kind for c in surface_only.candidates} == {'surface'}
    mixed = build_candidates(_config(SI_SLAB, operations), seed=2)  # no shares: every kind, all candidates
    assert [c.kind for c in mixed.candidates].count('bulk') == 12


def test_bulk_and_molecules_in_one_pool():
    target = {
        'elements': ['Si', 'H'],
        'prototype': 'diamond',
        'lattice_constant': 5.43,
        'supercell_atoms': [8],
        'composition': {'Si': 1.0, 'H': 0.0},
    }
    with pytest.raises(Exception, match='fractions must be in'):
        _config(target)
    target.pop('composition')
    target['molecule'] = {'name': 'SiH4'}
    config = _config({**target, 'shares': {'bulk': 0.5, 'molecule': 0.5}}, [{'kind': 'rattle', 'copies': 3}])
    pool = build_candidates(config, seed=0)
    assert [c.kind for c in pool.candidates].count('bulk') == [c.kind for c in pool.candidates].count('molecule') == 4
    # H comes with the molecule only: the diamond lattice is Si, not a Si-H alloy.
    assert config.target.lattice_elements == ['Si'] and not config.target.is_alloy
    assert {s for c in pool.candidates if c.kind == 'bulk' for s in c.atoms.get_chemical_symbols()} == {'Si'}
    assert pool.base['lattice_constant'] == pytest.approx(5.43)


def test_same_seed_same_pool_other_seed_other_clusters():
    operations = [{'kind': 'rotate', 'copies': 1}, {'kind': 'rattle', 'copies': 1}]
    config = _config(WATER, operations)
    _same(build_candidates(config, 9), build_candidates(config, 9))
    a, b = build_candidates(config, 9), build_candidates(config, 10)
    assert not np.allclose(a.candidates[1].atoms.positions, b.candidates[1].atoms.positions)
    slab_config = _config(SI_SLAB, [{'kind': 'adatom', 'copies': 2}, {'kind': 'rattle'}])
    _same(build_candidates(slab_config, 3), build_candidates(slab_config, 3))


def test_adding_surfaces_keeps_the_bulk_candidates():
    operations = [{'kind': 'strain', 'copies': 2}, {'kind': 'rattle', 'copies': 1}]
    bulk_only = build_candidates(_config({k: v for k, v in SI_SLAB.items() if k != 'surfaces'}, operations), 5)
    with_slab = build_candidates(_config(SI_SLAB, operations), 5)
    bulk_part = [c for c in with_slab.candidates if c.kind == 'bulk']
    assert [c.name for c in bulk_part] == [c.name for c in bulk_only.candidates]
    for x, y in zip(bulk_part, bulk_only.candidates, strict=True):
        assert np.array_equal(x.atoms.positions, y.atoms.positions)


def test_alloy_slabs_get_the_composition():
    target = {
        'elements': ['Si', 'Ge'],
        'prototype': 'diamond',
        'surfaces': [{'miller': [1, 0, 0], 'layers': 4, 'repeat': [2, 2]}],
        'shares': {'surface': 1.0},
    }
    pool = build_candidates(_config(target), seed=0)
    slab = pool.candidates[0].atoms
    assert slab.get_chemical_symbols().count('Si') == slab.get_chemical_symbols().count('Ge') == 8
    again = build_candidates(_config(target), seed=0).candidates[0].atoms
    assert again.get_chemical_symbols() == slab.get_chemical_symbols()
