"""Energy-based loss weights: the lowest-energy structures weigh most; buffer atoms keep their lower weight."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlip_autopipe.training.export import frames_to_dataframe
from aiida_mlip_autopipe.training.weights import energy_above_lowest, loss_weights


def _frame(energy_per_atom, force=0.0, symbols=None):
    atoms = bulk('Si', 'diamond', a=5.4)
    if symbols:
        atoms.symbols = symbols
    forces = np.full((len(atoms), 3), force)
    atoms.calc = SinglePointCalculator(atoms, energy=energy_per_atom * len(atoms), forces=forces)
    return atoms


def test_the_ground_state_weighs_most_and_weights_sum_to_one():
    frames = [_frame(-5.40), _frame(-5.35), _frame(-5.00)]
    assert energy_above_lowest(frames) == pytest.approx([0.0, 0.05, 0.40])
    energy, forces = loss_weights(frames, [np.ones(2)] * 3, delta_energy=0.05, delta_force=1.0)
    assert energy.sum() == pytest.approx(1.0) and sum(f.sum() for f in forces) == pytest.approx(1.0)
    assert energy[0] > energy[1] > energy[2]
    assert energy[0] / energy[1] == pytest.approx(4.0)  # (0.05 + 0.05)^2 / 0.05^2


def test_buffer_atoms_and_large_forces_weigh_less():
    frames = [_frame(-5.40, force=0.0), _frame(-5.40, force=2.0)]
    _, forces = loss_weights(frames, [np.array([1.0, 0.1]), np.ones(2)], delta_energy=0.05, delta_force=1.0)
    assert forces[0][1] == pytest.approx(0.1 * forces[0][0])
    assert forces[1][0] < forces[0][0]  # |F|^2 = 12 (eV/Å)^2 against 0


def test_an_alloy_is_compared_after_its_composition_trend():
    frames = [_frame(-5.0, symbols='SiSi'), _frame(-4.0, symbols='GeGe'), _frame(-4.5, symbols='SiGe')]
    # The SiGe cell lies exactly on the line between the pure cells: nothing above the trend.
    assert energy_above_lowest(frames) == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)


def test_the_dataframe_carries_the_weights_and_uniform_is_unchanged():
    frames = [_frame(-5.40), _frame(-5.00)]
    uniform = frames_to_dataframe(frames)
    assert list(uniform['w_energy']) == [1.0, 1.0]
    weighted = frames_to_dataframe(frames, energy_weighting=(0.05, 1.0))
    assert weighted['w_energy'][0] > weighted['w_energy'][1] and weighted['w_energy'].sum() == pytest.approx(1.0)
