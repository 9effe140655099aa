"""SOAP descriptors: pooling, invariances, species from the target system."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.selection.config import DescriptorConfig
from aiida_mlip_autopipe.selection.descriptors import soap_descriptors, soap_from_config

PARAMS = {'r_cut': 4.0, 'n_max': 3, 'l_max': 2, 'sigma': 0.5}


@pytest.fixture
def structures():
    rng = np.random.default_rng(0)
    base = bulk('Si', 'diamond', a=5.43, cubic=True)
    out = []
    for i in range(4):
        atoms = base.copy()
        symbols = np.array(atoms.get_chemical_symbols())
        symbols[rng.random(len(atoms)) < 0.4] = 'Ge'
        atoms.set_chemical_symbols(symbols)
        atoms.positions += rng.normal(0, 0.05 * i, atoms.positions.shape)
        out.append(atoms)
    return out


def test_mean_is_the_average_of_per_atom_soap(structures):
    from dscribe.descriptors import SOAP

    mean = soap_descriptors(structures, ['Si', 'Ge'], **PARAMS)
    per_atom = SOAP(species=['Ge', 'Si'], periodic=True, **PARAMS).create(structures)
    assert mean.shape == (4, per_atom[0].shape[1])
    for row, vectors in zip(mean, per_atom, strict=True):
        assert np.allclose(row, vectors.mean(axis=0))
    maximum = soap_descriptors(structures, ['Si', 'Ge'], pooling='max', **PARAMS)
    for row, vectors in zip(maximum, per_atom, strict=True):
        assert np.allclose(row, vectors.max(axis=0))
    both = soap_descriptors(structures, ['Si', 'Ge'], pooling='mean_max', **PARAMS)
    assert np.allclose(both, np.hstack([mean, maximum]))


def test_invariant_to_atom_order_translation_and_supercell(structures):
    atoms = structures[2]
    reference = soap_descriptors([atoms], ['Si', 'Ge'], **PARAMS)[0]
    shuffled = atoms[np.random.default_rng(1).permutation(len(atoms))]
    moved = atoms.copy()
    moved.translate([0.3, -1.1, 2.0])
    moved.wrap()
    bigger = atoms.repeat((2, 1, 1))
    others = soap_descriptors([shuffled, moved, bigger], ['Si', 'Ge'], **PARAMS)
    for row in others:
        assert np.allclose(row, reference, atol=1e-8)


def test_species_come_from_the_target_not_the_structures():
    silicon = bulk('Si', 'diamond', a=5.43, cubic=True)
    alone = soap_descriptors([silicon], ['Si'], **PARAMS)
    shared = soap_descriptors([silicon], ['Si', 'Ge'], **PARAMS)
    assert shared.shape[1] > alone.shape[1]
    with pytest.raises(ValueError, match=r"\['Ge'\], which are not among the descriptor species"):
        soap_descriptors([bulk('Ge', 'diamond', a=5.66)], ['Si'], **PARAMS)


def test_volume_changes_the_mean_descriptor():
    atoms = bulk('Al', 'fcc', a=4.05, cubic=True)
    compressed = atoms.copy()
    compressed.set_cell(atoms.cell * 0.95, scale_atoms=True)
    x = soap_descriptors([atoms, compressed], ['Al'], **PARAMS)
    assert np.linalg.norm(x[0] - x[1]) > 1e-3


def test_from_config_and_empty_input():
    config = DescriptorConfig(r_cut=4.0, n_max=3, l_max=2, pooling='max')
    atoms = bulk('Al', 'fcc', a=4.05, cubic=True)
    assert np.allclose(
        soap_from_config([atoms], ['Al'], config), soap_descriptors([atoms], ['Al'], pooling='max', **PARAMS)
    )
    assert np.allclose(
        soap_from_config([atoms], ['Al'], config.model_dump()), soap_from_config([atoms], ['Al'], config)
    )
    empty = soap_descriptors([], ['Al'], **PARAMS)
    assert empty.shape[0] == 0 and empty.shape[1] == soap_descriptors([atoms], ['Al'], **PARAMS).shape[1]
    with pytest.raises(ValueError, match='pooling'):
        soap_descriptors([atoms], ['Al'], pooling='sum')


def test_max_pooling_surfaces_local_defects_that_the_mean_hides():
    """The probe's finding: FPS on the mean SOAP ranks strained cells before a vacancy or a hot atom."""
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    base = bulk('Si', 'diamond', a=5.43, cubic=True).repeat((2, 2, 1))
    pool = []
    for strain in np.linspace(-0.03, 0.03, 9):
        atoms = base.copy()
        atoms.set_cell(base.cell * (1 + strain), scale_atoms=True)
        pool.append(atoms)
    vacancy = base.copy()
    del vacancy[0]
    hot = base.copy()
    hot.positions[5] += [0.35, 0.2, 0.1]
    pool += [vacancy, hot]
    ranks = {}
    for pooling in ('mean', 'max'):
        params = {'r_cut': 4.0, 'n_max': 4, 'l_max': 3, 'pooling': pooling}
        x = soap_descriptors(pool, ['Si'], **params)
        labelled = soap_descriptors([base], ['Si'], **params)
        order = farthest_point_sampling(x, len(pool), reference=labelled).indices.tolist()
        ranks[pooling] = (order.index(9), order.index(10))
    assert min(ranks['mean']) >= 8  # after every strained cell
    assert max(ranks['max']) <= 3
