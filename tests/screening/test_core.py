"""Screening verdicts with real models: the project's tiny MACE model, CHGNet's bundled weights, EMT."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.screening.backends import CalculatorBackend, load_backend
from aiida_mlip_autopipe.screening.core import energy_deviations, min_distance_ratio, screen


def test_overlap_is_rejected_geometrically_before_any_model(relaxed_silicon, overlapping_silicon):
    verdicts = screen([relaxed_silicon, overlapping_silicon], None, min_distance_factor=0.5)
    assert [v.reason for v in verdicts] == ['not_screened', 'overlapping_atoms']
    assert verdicts[1].value == pytest.approx(0.6 / 2.22, rel=1e-3) and verdicts[1].threshold == 0.5
    assert verdicts[0].kept and not verdicts[1].kept
    assert min_distance_ratio(relaxed_silicon) == pytest.approx(5.40 * math.sqrt(3) / 4 / 2.22, rel=1e-3)


def test_mace_rejects_overlap_by_force_and_keeps_relaxed(mace_backend, relaxed_silicon, overlapping_silicon):
    almg = bulk('Al', 'fcc', a=4.17, cubic=True)
    almg.set_chemical_symbols(['Al', 'Al', 'Al', 'Mg'])
    verdicts = screen(
        [relaxed_silicon, overlapping_silicon, almg], mace_backend, max_force=15.0, min_distance_factor=0.0
    )
    kept, overlap, alloy = verdicts
    assert kept.kept and kept.reason == 'ok' and kept.max_force < 1e-6
    assert kept.energy_per_atom == pytest.approx(-107.8, abs=0.1)  # pw.x LDA total energy scale of the labels
    assert not overlap.kept and overlap.reason == 'max_force'
    assert overlap.value == overlap.max_force > 15.0 and overlap.threshold == 15.0
    assert alloy.kept
    as_dict = overlap.as_dict()
    assert as_dict['kept'] is False and as_dict['energy_deviation'] is None


def test_energy_deviations_follow_the_composition_trend():
    structures, energies = [], []
    mu = {'Al': -57.0, 'Mg': -29.2}
    for n_mg in range(5):
        atoms = bulk('Al', 'fcc', a=4.1, cubic=True).repeat((2, 1, 1))
        atoms.set_chemical_symbols(['Mg'] * n_mg + ['Al'] * (8 - n_mg))
        structures.append(atoms)
        energies.append(sum(mu[s] for s in atoms.get_chemical_symbols()) + 0.01 * n_mg)
    structures.append(structures[2].copy())
    energies.append(energies[2] + 8 * 3.0)  # 3 eV/atom too high
    deviations = energy_deviations(structures, energies, window=1.0)
    assert np.all(deviations[:5] < 0.05)
    assert deviations[5] == pytest.approx(3.0, abs=0.05)


def test_energy_outliers_with_a_real_calculator():
    """EMT (ASE's effective medium theory) as a per-structure backend."""
    base = bulk('Cu', 'fcc', a=3.6, cubic=True).repeat(2)
    squeezed = base.copy()
    squeezed.set_cell(base.cell * 0.75, scale_atoms=True)
    rattled = base.copy()
    rattled.positions += np.random.default_rng(0).normal(0, 0.05, rattled.positions.shape)
    verdicts = screen([base, rattled, base.copy(), squeezed], CalculatorBackend(EMT()), energy_window=1.0, max_force=50)
    assert [v.reason for v in verdicts] == ['ok', 'ok', 'ok', 'energy_outlier']
    assert verdicts[3].value > 1.0 and verdicts[3].threshold == 1.0
    assert verdicts[3].energy_per_atom > verdicts[0].energy_per_atom + 1.0


def test_chgnet_rejects_overlap_and_keeps_relaxed(relaxed_silicon, overlapping_silicon):
    backend = load_backend('chgnet', batch_size=4)
    assert backend.description['backend'] == 'chgnet'
    verdicts = screen([relaxed_silicon, overlapping_silicon], backend, max_force=15.0, min_distance_factor=0.0)
    assert verdicts[0].kept and verdicts[0].max_force < 0.01
    assert verdicts[0].energy_per_atom == pytest.approx(-5.4, abs=0.2)  # CHGNet (MP-compatible) energy scale
    assert verdicts[1].reason == 'max_force' and verdicts[1].max_force > 15.0
