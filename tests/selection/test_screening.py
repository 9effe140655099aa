"""Screening verdicts with real models: the project's tiny MACE model and CHGNet's bundled weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.selection.screening import (
    CalculatorBackend,
    MaceBackend,
    energy_deviations,
    load_backend,
    min_distance_ratio,
    screen,
)

MODEL = Path(__file__).parents[1] / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'


@pytest.fixture(scope='module')
def mace_backend():
    return MaceBackend.from_file(MODEL, batch_size=4)


@pytest.fixture
def relaxed_silicon():
    """Diamond Si at the LDA lattice constant: zero forces by symmetry, the energy the model learnt."""
    return bulk('Si', 'diamond', a=5.40, cubic=True)


@pytest.fixture
def overlapping_silicon(relaxed_silicon):
    """Two atoms 0.6 Å apart (sum of covalent radii 2.22 Å)."""
    atoms = relaxed_silicon.copy()
    atoms.positions[1] = atoms.positions[0] + [0.6 / math.sqrt(3)] * 3
    return atoms


def test_model_file_is_tiny_and_knows_the_test_elements(mace_backend):
    assert MODEL.stat().st_size < 2_000_000
    assert sorted(mace_backend.elements) == ['Al', 'Mg', 'Si']
    assert len(mace_backend.description['sha256']) == 64


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


def test_batched_mace_equals_the_ase_calculator(mace_backend):
    from mace.calculators import MACECalculator

    rng = np.random.default_rng(0)
    structures = []
    for n in (1, 2, 3):
        atoms = bulk('Al', 'fcc', a=4.1, cubic=True).repeat((n, 1, 1))
        symbols = np.array(atoms.get_chemical_symbols())
        symbols[rng.random(len(atoms)) < 0.3] = 'Mg'
        atoms.set_chemical_symbols(symbols)
        atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
        structures.append(atoms)
    structures.append(bulk('Si', 'diamond', a=5.5))
    batched = mace_backend.evaluate(structures * 2)
    reference = CalculatorBackend(MACECalculator(model_paths=str(MODEL), device='cpu', default_dtype='float64'))
    one_by_one = reference.evaluate(structures * 2)
    for a, b in zip(batched, one_by_one, strict=True):
        assert a.energy == pytest.approx(b.energy, abs=1e-8)
        assert np.allclose(a.forces, b.forces, atol=1e-8)
    assert not np.allclose(batched[0].forces, 0.0)


def test_unknown_elements_are_an_error(mace_backend):
    with pytest.raises(ValueError, match=r"knows .* only; the candidates also hold \['Ge'\]"):
        mace_backend.evaluate([bulk('Ge', 'diamond', a=5.66)])


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


def test_load_backend_names():
    assert load_backend('none') is None
    with pytest.raises(FileNotFoundError, match='neither'):
        load_backend('no/such/model.model')
    with pytest.raises(ValueError, match='MACE-MP size'):
        MaceBackend.from_foundation('huge')
    assert isinstance(load_backend(str(MODEL)), MaceBackend)
    with MODEL.open('rb') as handle:
        assert load_backend(handle).description['sha256'] == MaceBackend.from_file(MODEL).description['sha256']


def test_chgnet_rejects_overlap_and_keeps_relaxed(relaxed_silicon, overlapping_silicon):
    backend = load_backend('chgnet', batch_size=4)
    assert backend.description['backend'] == 'chgnet'
    verdicts = screen([relaxed_silicon, overlapping_silicon], backend, max_force=15.0, min_distance_factor=0.0)
    assert verdicts[0].kept and verdicts[0].max_force < 0.01
    assert verdicts[0].energy_per_atom == pytest.approx(-5.4, abs=0.2)  # CHGNet (MP-compatible) energy scale
    assert verdicts[1].reason == 'max_force' and verdicts[1].max_force > 15.0
