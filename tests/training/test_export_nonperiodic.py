"""Slabs and molecules through the training set and export: periodicity kept, no stress fitted (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.training.export import (
    frames_to_dataframe,
    read_extxyz,
    stress_is_meaningful,
    write_extxyz,
)


def _labelled(atoms):
    """A frame with energy, forces and a stress over its box (as pw.x or EMT would report one)."""
    calc = EMT()
    atoms = atoms.copy()
    atoms.calc = calc
    results = {'energy': atoms.get_potential_energy(), 'forces': atoms.get_forces()}
    results['stress'] = np.array([0.01, 0.02, 0.03, 0.0, 0.0, 0.0])
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


@pytest.fixture
def frames():
    crystal = bulk('Cu', 'fcc', a=3.6, cubic=True)
    slab = fcc111('Cu', (2, 2, 3), vacuum=6.0)
    slab.pbc = True  # slabs are stored as periodic boxes (pyace and pacemaker need full periodicity)
    cluster = molecule('H2O')
    cluster.center(vacuum=5.0)
    cluster.set_chemical_symbols(['Cu', 'Cu', 'Cu'])  # EMT needs metals; only the geometry matters here
    cluster.pbc = False
    return [_labelled(crystal), _labelled(slab), _labelled(cluster)]


def test_only_periodic_frames_carry_stress_to_pacemaker(frames):
    assert [stress_is_meaningful(f) for f in frames] == [True, False, False]
    frame = frames_to_dataframe(frames)
    assert np.allclose(frame['stress'][0], [0.01, 0.02, 0.03, 0, 0, 0])
    assert frame['stress'][1] is None and frame['stress'][2] is None
    # The periodicity reaches pacemaker: its neighbour lists see no images across the vacuum.
    assert [tuple(a.pbc) for a in frame['ase_atoms']] == [(True,) * 3, (True,) * 3, (False,) * 3]


def test_a_set_of_slabs_and_molecules_has_no_stress_column(frames):
    frame = frames_to_dataframe(frames[1:])
    assert 'stress' not in frame.columns


def test_training_set_keeps_periodicity_and_extxyz_drops_meaningless_stress(frames, tmp_path):
    node = TrainingSetData.from_frames(frames)
    back = node.get_frames()
    assert [tuple(a.pbc) for a in back] == [(True,) * 3, (True,) * 3, (False,) * 3]
    path = write_extxyz(back, tmp_path / 'set.extxyz')
    read = read_extxyz(path)
    assert 'stress' in read[0].calc.results
    assert 'stress' not in read[1].calc.results and 'stress' not in read[2].calc.results
    assert np.allclose(read[2].get_forces(), frames[2].get_forces())
