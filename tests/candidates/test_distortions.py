"""Strain and rattle: the deformation asked for, seeded, nothing else changed."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from hypothesis import given, settings
from hypothesis import strategies as st

from aiida_mlip_autopipe.candidates.distortions import apply_strain, random_strain, rattle, strain_tensor


@pytest.fixture
def silicon():
    return bulk('Si', 'diamond', a=5.43, cubic=True)


@given(linear=st.floats(-0.2, 0.3))
@settings(max_examples=25, deadline=None)
def test_volumetric_strain_scales_the_volume(linear):
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
    strained = apply_strain(atoms, strain_tensor(linear))
    assert strained.get_volume() == pytest.approx(atoms.get_volume() * (1 + linear) ** 3)
    # Fractional coordinates are unchanged by a homogeneous strain.
    assert np.allclose(strained.get_scaled_positions(), atoms.get_scaled_positions())


def test_random_strain_within_range_and_seeded(silicon):
    volumes = []
    for i in range(20):
        strained, details = random_strain(silicon, np.random.default_rng(i), (-0.04, 0.02), shear=0.05)
        assert -0.04 <= details['linear'] <= 0.02
        assert all(abs(s) <= 0.05 for s in details['shear'])
        assert details['volume_ratio'] == pytest.approx(strained.get_volume() / silicon.get_volume())
        volumes.append(details['volume_ratio'])
    assert len(set(np.round(volumes, 8))) == 20
    again, _ = random_strain(silicon, np.random.default_rng(3), (-0.04, 0.02), shear=0.05)
    first, _ = random_strain(silicon, np.random.default_rng(3), (-0.04, 0.02), shear=0.05)
    assert np.array_equal(again.cell.array, first.cell.array)


def test_shear_changes_angles_not_only_volume(silicon):
    strained, details = random_strain(silicon, np.random.default_rng(0), (0.0, 0.0), shear=0.05)
    assert details['linear'] == 0.0
    assert not np.allclose(strained.cell.angles(), 90.0)


def test_collapsing_strain_is_refused(silicon):
    with pytest.raises(ValueError, match='collapses'):
        apply_strain(silicon, strain_tensor(-0.99))
    with pytest.raises(ValueError, match='symmetric'):
        apply_strain(silicon, np.array([[0, 0.1, 0], [0, 0, 0], [0, 0, 0]]))


def test_rattle_statistics_and_seed():
    atoms = bulk('Cu', 'fcc', a=3.6, cubic=True).repeat(4)
    rattled, details = rattle(atoms, np.random.default_rng(5), 0.1)
    displacement = rattled.positions - atoms.positions
    displacement -= np.round(displacement @ np.linalg.inv(atoms.cell.array)) @ atoms.cell.array
    assert np.allclose(displacement.mean(axis=0), 0.0, atol=1e-12)
    assert displacement.std() == pytest.approx(0.1, rel=0.15)
    assert details['rms_displacement'] == pytest.approx(np.sqrt((displacement**2).sum(axis=1).mean()))
    assert np.array_equal(rattle(atoms, np.random.default_rng(5), 0.1)[0].positions, rattled.positions)
    assert not np.array_equal(rattle(atoms, np.random.default_rng(6), 0.1)[0].positions, rattled.positions)
    assert rattled.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.array_equal(rattled.cell.array, atoms.cell.array)
