"""Rule 5 of screening: candidates far above the target phase are rejected, whatever the rest of the pool does."""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.screening.backends import CalculatorBackend
from aiida_mlip_autopipe.screening.core import phase_energies, screen


def _pool():
    ideal = bulk('Al', 'fcc', a=4.05, cubic=True)
    strained = ideal.copy()
    strained.set_cell(ideal.cell * 1.04, scale_atoms=True)
    squeezed = ideal.copy()  # 30 % of the volume gone: far above fcc Al
    squeezed.set_cell(ideal.cell * 0.80, scale_atoms=True)
    return ideal, [strained, squeezed, ideal.copy()]


def test_far_above_the_phase_is_rejected_with_its_number():
    ideal, pool = _pool()
    backend = CalculatorBackend(EMT())
    verdicts = screen(pool, backend, max_force=50.0, energy_window=100.0, energy_above_phase=0.5, references=[ideal])
    assert [v.kept for v in verdicts] == [True, False, True]
    rejected = verdicts[1]
    assert rejected.reason == 'above_phase' and rejected.threshold == 0.5
    assert rejected.value == pytest.approx(rejected.energy_above_phase) and rejected.value > 0.5
    assert verdicts[2].energy_above_phase == pytest.approx(0.0, abs=1e-9)
    assert 0 < verdicts[0].energy_above_phase < 0.5


def test_without_references_or_threshold_the_rule_is_off():
    ideal, pool = _pool()
    backend = CalculatorBackend(EMT())
    for kwargs in ({'energy_above_phase': 0.5}, {'energy_above_phase': None, 'references': [ideal]}):
        verdicts = screen(pool, backend, max_force=50.0, energy_window=100.0, **kwargs)
        assert all(v.kept for v in verdicts)
        assert all(v.energy_above_phase is None for v in verdicts)


def test_phase_energies_reproduce_the_references():
    ideal, _ = _pool()
    energy = ideal.copy()
    energy.calc = EMT()
    mu = phase_energies([ideal], [energy.get_potential_energy()])
    assert mu['Al'] * len(ideal) == pytest.approx(energy.get_potential_energy())
