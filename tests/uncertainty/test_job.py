"""The uncertainty jobs run for real: pool scoring and gamma calibration on a tiny real Si potential."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.io import read

from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.uncertainty.job import CalibrationCalculation, ScoringCalculation

FIXTURES = Path(__file__).parents[1] / 'fixtures'
SI_TINY = FIXTURES / 'potentials' / 'si_tiny'
SI_LABELS = FIXTURES / 'datasets' / 'si_pw_lda.extxyz'


@pytest.fixture
def potential(aiida_profile):
    return AcePotentialData.from_files(
        SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace', SI_TINY / 'potential.asi'
    ).store()


def test_only_extrapolating_candidates_come_back(python_code, potential, si_atoms):
    crystal = si_atoms.repeat(2)
    squeezed = crystal.copy()
    squeezed.set_cell(crystal.cell * 0.85, scale_atoms=True)
    squeezed.rattle(0.15, seed=1)
    nodes = {'crystal': orm.StructureData(ase=crystal), 'squeezed': orm.StructureData(ase=squeezed)}
    results, node = run_get_node(
        ScoringCalculation,
        code=python_code,
        potential=potential,
        settings=orm.Dict({'gamma_threshold': 2.0}),
        structures=nodes,
    )
    assert node.is_finished_ok, node.exit_message
    scores = results['scores']['candidates']
    assert scores['crystal']['max_gamma'] < 2.0 < scores['squeezed']['max_gamma']
    assert list(results['structures']) == ['squeezed']
    copy = results['structures']['squeezed']
    assert copy.base.attributes.get('max_gamma') == pytest.approx(scores['squeezed']['max_gamma'])
    assert copy.base.attributes.get('candidate_uuid') == nodes['squeezed'].uuid
    assert copy.creator.pk == node.pk
    assert {'potential', 'settings'} <= {link.link_label for link in node.base.links.get_incoming().all()}


def test_a_potential_without_active_set_is_refused(python_code, si_atoms):
    bare = AcePotentialData.from_files(SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace').store()
    with pytest.raises(ValueError, match='no active set'):
        run_get_node(
            ScoringCalculation,
            code=python_code,
            potential=bare,
            settings=orm.Dict({'gamma_threshold': 2.0}),
            structures={'crystal': orm.StructureData(ase=si_atoms)},
        )


def test_calibration_relates_gamma_to_the_real_force_error(python_code, potential):
    labels = TrainingSetData.from_frames(read(SI_LABELS, ':')).store()
    settings = {'gamma_lower': 2.0, 'bounds': [1.5, 5.0], 'error_target': 0.05, 'adjust': True}
    results, node = run_get_node(
        CalibrationCalculation, code=python_code, potential=potential, labels=labels, settings=orm.Dict(settings)
    )
    assert node.is_finished_ok, node.exit_message
    data = results['calibration'].get_dict()
    n_atoms = sum(len(frame) for frame in read(SI_LABELS, ':'))
    assert data['n_atoms'] == n_atoms and len(data['structures']) == labels.num_frames
    assert data['force_rmse'] > 0 and data['gamma_lower_before'] == 2.0
    assert data['spearman'] is not None and -1 <= data['spearman'] <= 1
    assert sum(b['n'] for b in data['bins']) == n_atoms
    # The threshold moved only within its bounds, and only if one was measured.
    if data['measured_threshold'] is None:
        assert data['gamma_lower_after'] == 2.0 and not data['adjusted']
    else:
        assert 1.5 <= data['gamma_lower_after'] <= 5.0
    assert {'potential', 'labels', 'settings'} <= {link.link_label for link in node.base.links.get_incoming().all()}


def test_missing_gamma_is_an_error_not_zero():
    """A calculator without gamma (no active set) must not read as 'nothing uncertain'."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from aiida_mlip_autopipe.uncertainty.calibration import gamma_force_relation
    from aiida_mlip_autopipe.uncertainty.scoring import MissingGammaError, max_gamma

    atoms = bulk('Al', 'fcc', a=4.05)
    with pytest.raises(MissingGammaError, match='no extrapolation grade'):
        max_gamma(atoms, EMT())
    labelled = atoms.copy()
    labelled.calc = EMT()
    labelled.get_forces()
    with pytest.raises(MissingGammaError):
        gamma_force_relation([labelled], EMT())


def test_the_calibrated_threshold_stays_in_its_bounds():
    from aiida_mlip_autopipe.uncertainty.calibration import calibrate

    relation = {'bins': [{'gamma_low': 0.5, 'mean_error': 0.01}, {'gamma_low': 8.0, 'mean_error': 1.0}]}
    settings = {'gamma_lower': 2.0, 'bounds': [1.5, 5.0], 'error_target': 0.3, 'adjust': True}
    record = calibrate(relation, settings)
    assert record['measured_threshold'] == 8.0 and record['gamma_lower_after'] == 5.0 and record['adjusted']
    assert calibrate(relation, {**settings, 'adjust': False})['gamma_lower_after'] == 2.0
    never = calibrate({'bins': [{'gamma_low': 0.5, 'mean_error': 0.01}]}, settings)
    assert never['measured_threshold'] is None and never['gamma_lower_after'] == 2.0 and not never['adjusted']
    assert np.isfinite(record['error_target'])


def test_a_calibration_whose_gamma_does_not_rank_the_errors_moves_nothing():
    """The Si demo's generation 2 (53 atoms, Spearman -0.15) measured 1.22 and the next MD was 'stable' below it."""
    from aiida_mlip_autopipe.uncertainty.calibration import calibrate

    bins = [{'gamma_low': 0.3, 'mean_error': 0.1}, {'gamma_low': 1.22, 'mean_error': 0.4}]
    settings = {'gamma_lower': 0.52, 'bounds': [0.5, 5.0], 'error_target': 0.3, 'adjust': True, 'min_spearman': 0.3}
    refused = calibrate({'bins': bins, 'spearman': -0.15}, settings)
    assert refused['measured_threshold'] == 1.22 and not refused['trusted']
    assert refused['gamma_lower_after'] == 0.52 and not refused['adjusted']
    unmeasured = calibrate({'bins': bins, 'spearman': None}, settings)
    assert not unmeasured['trusted'] and unmeasured['gamma_lower_after'] == 0.52
    accepted = calibrate({'bins': bins, 'spearman': 0.59}, settings)
    assert accepted['trusted'] and accepted['gamma_lower_after'] == 1.22 and accepted['adjusted']


def test_evaluation_of_two_potentials_on_the_same_frames(python_code, potential):
    from aiida_mlip_autopipe.uncertainty.job import EvaluationCalculation

    frames = read(SI_LABELS, ':')
    labels = TrainingSetData.from_frames(frames).store()
    bare = AcePotentialData.from_files(SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace').store()
    results, node = run_get_node(
        EvaluationCalculation, code=python_code, potentials={'a': potential, 'b': bare}, labels=labels
    )
    assert node.is_finished_ok, node.exit_message
    errors = results['errors'].get_dict()
    assert errors['a']['n_frames'] == len(frames) == len(errors['a']['frames'])
    # The same potential file: the same errors, with or without an active set.
    assert errors['a']['force_rmse'] == pytest.approx(errors['b']['force_rmse'])
    assert errors['a']['energy_rmse'] > 0 and errors['a']['force_rmse'] > 0
    # Energies are compared with DFT totals: the potential's reference energies are added back.
    calc = potential.get_calculator(active_set=False)
    probe = frames[0].copy()
    probe.calc = calc
    expected = 1000 * (probe.get_potential_energy() - frames[0].get_potential_energy()) / len(frames[0])
    assert errors['a']['frames'][0]['energy_error'] == pytest.approx(expected, abs=1e-6)
