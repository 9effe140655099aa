"""The pacemaker input generator: TrainingConfig + data-set statistics -> input.yaml content."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.training.config import TrainingConfig
from aiida_mlip_autopipe.training.input import deep_merge, embedding_parameters, generate_input
from aiida_mlip_autopipe.training.potential_file import PotentialSummary
from aiida_mlip_autopipe.training.statistics import DatasetStatistics, dataset_statistics

SI_STATS = DatasetStatistics(
    elements=['Si'], num_frames=24, num_atoms=132, atoms_per_element={'Si': 132}, min_distance={'Si-Si': 1.8254}
)
PREVIOUS = PotentialSummary(
    elements=['Si'], cutoff=5.0, functions_per_element={'Si': 16}, reference_energy={'Si': -107.6, 'shift': 0.06}
)


def _generate(stats=SI_STATS, initial=None, **settings):
    return generate_input(
        TrainingConfig(**settings),
        stats,
        data_filename='training_set.pckl.gzip',
        initial=initial,
        initial_filename='initial_potential.yaml' if initial else None,
    )


def test_default_si_input(data_regression):
    generated = _generate()
    assert generated.warm_start is None
    assert generated.notes == []
    document = generated.input
    assert document['potential']['elements'] == ['Si']
    assert document['potential']['bonds']['ALL']['rcut'] == 5.0
    # The core sits at 0.75 x the covalent bond (1.665 A) lowered to 0.9 x the shortest training distance.
    assert document['potential']['bonds']['SiSi']['r_in'] == pytest.approx(0.9 * 1.8254, abs=1e-4)
    assert document['potential']['bonds']['SiSi']['inner_cutoff_type'] == 'zbl'
    assert 'repulsion' not in document['fit']  # never pacemaker's repulsion: auto
    assert document['fit']['loss']['kappa'] == pytest.approx(0.3)
    assert document['data'] == {'filename': 'training_set.pckl.gzip', 'test_size': 0.1, 'reference_energy': 'auto'}
    data_regression.check(generated.input)


def test_binary_input_with_settings(sige_frames, data_regression):
    generated = _generate(
        dataset_statistics(sige_frames),
        cutoff=6.0,
        functions_per_element=8,
        embedding='linear',
        energy_weight=1.0,
        force_weight=1.0,
        optimizer='L-BFGS-B',
        maxiter=7,
        reference_energy={'Si': -107.6, 'Ge': -100.0},
        test_fraction=0.0,
        repulsion={'inner_cutoff': {'Ge-Si': 1.5}, 'delta': 0.2},
        seed=7,
    )
    bonds = generated.input['potential']['bonds']
    assert set(bonds) == {'ALL', 'GeGe', 'GeSi', 'SiSi'}
    assert bonds['GeSi']['r_in'] == 1.5
    assert generated.repulsion['Ge-Si'].reason == 'configured'
    assert 'test_size' not in generated.input['data']  # pacemaker crashes on test_size: 0
    assert generated.input['fit']['loss']['kappa'] == 0.5
    assert 'BINARY' in generated.input['potential']['functions']
    data_regression.check({'input': generated.input, 'decisions': generated.summary()})


def test_separate_test_set():
    generated = generate_input(
        TrainingConfig(), SI_STATS, data_filename='train.pckl.gzip', test_filename='test.pckl.gzip'
    )
    assert generated.input['data']['test_filename'] == 'test.pckl.gzip'
    assert 'test_size' not in generated.input['data']


def test_upfit_warm_start(data_regression):
    generated = _generate(initial=PREVIOUS, functions_per_element=16)
    assert generated.warm_start == 'upfit'
    assert generated.input['potential'] == {'filename': 'initial_potential.yaml'}
    # Reference energies of the first fit are kept, so every generation fits the same energy scale.
    assert generated.input['data']['reference_energy'] == PREVIOUS.reference_energy
    data_regression.check({'input': generated.input, 'decisions': generated.summary()})


def test_ladder_warm_start_when_the_basis_grows():
    generated = _generate(initial=PREVIOUS, functions_per_element=32)
    assert generated.warm_start == 'ladder'
    assert generated.input['potential']['initial_potential'] == 'initial_potential.yaml'
    assert generated.input['potential']['functions']['number_of_functions_per_element'] == 32


@pytest.mark.parametrize(
    ('initial', 'settings', 'note'),
    [
        (PREVIOUS, {'cutoff': 6.0}, 'cutoff 5.0 A differs from cutoff 6.0 A'),
        (PotentialSummary(['Ge', 'Si'], 5.0, {'Ge': 16, 'Si': 16}), {}, 'elements'),
        (PREVIOUS, {'warm_start': False}, 'warm_start is off'),
    ],
)
def test_cold_start_when_warm_start_is_impossible(initial, settings, note):
    generated = _generate(initial=initial, **settings)
    assert generated.warm_start is None
    assert 'elements' in generated.input['potential']
    assert any(note in n for n in generated.notes)


def test_user_reference_energy_wins_over_the_previous_one():
    generated = _generate(initial=PREVIOUS, reference_energy={'Si': -100.0})
    assert generated.input['data']['reference_energy'] == {'Si': -100.0}


def test_extra_input_is_merged_last():
    generated = _generate(extra_input={'fit': {'ladder_step': 10, 'loss': {'w0_rad': 1e-4}}})
    assert generated.input['fit']['ladder_step'] == 10
    assert generated.input['fit']['loss'] == {
        'kappa': pytest.approx(0.3),
        'L1_coeffs': 1e-8,
        'L2_coeffs': 1e-8,
        'w0_rad': 1e-4,
    }
    assert deep_merge({'a': {'b': 1}}, {'a': {'c': 2}}) == {'a': {'b': 1, 'c': 2}}


def test_a_generated_value_is_overridden_only_on_purpose():
    overridden = _generate(
        extra_input={'potential': {'bonds': {'ALL': {'dcut': 0.05}}}}, extra_input_overrides=['potential.bonds.*.dcut']
    )
    assert overridden.input['potential']['bonds']['ALL']['dcut'] == 0.05


def test_too_few_atoms_for_the_active_set_is_noted():
    stats = DatasetStatistics(['Si'], 2, 4, {'Si': 4}, {'Si-Si': 2.2})
    generated = _generate(stats, functions_per_element=16)
    assert any('pace_activeset needs at least as many atoms' in n for n in generated.notes)


def test_embeddings():
    assert embedding_parameters(TrainingConfig(ndensity=3))['fs_parameters'] == [1.0, 1.0, 1.0, 0.5, 1.0, 2.0]
    assert embedding_parameters(TrainingConfig(embedding='linear', ndensity=4)) == {
        'npot': 'FinnisSinclairShiftedScaled',
        'fs_parameters': [1.0, 1.0],
        'ndensity': 1,
    }


def test_empty_set_is_refused():
    with pytest.raises(ValueError, match='empty'):
        _generate(DatasetStatistics([], 0, 0))


@pytest.mark.parametrize(
    ('settings', 'message'),
    [
        ({'repulsion': {'inner_cutoff': 6.0}}, 'outside'),
        ({'cutoff': 3.0, 'repulsion': {'inner_cutoff': 3.5}}, 'must be below cutoff'),
        ({'repulsion': {'inner_cutoff': {'Si-Xx': 1.0}}}, 'pair of elements'),
        ({'nradmax_by_orders': [10, 2]}, 'together'),
        ({'nradmax_by_orders': [10, 2], 'lmax_by_orders': [0]}, 'same length'),
        ({'reference_energy': {'Qq': 1.0}}, 'neither elements'),
        ({'extra_input': {'fitt': {}}}, 'not pacemaker input sections'),
        # training.extra_input is checked key by key (training/extra_input.py).
        ({'extra_input': {'fit': {'loss': {'L2_coeffs': 1e-6}}}}, 'set by training.l2_regularization'),
        ({'extra_input': {'fit': {'optimizer': 'Nelder-Mead'}}}, 'set by training.optimizer'),
        ({'extra_input': {'backend': {'batch_size': 5}}}, 'set by training.batch_size'),
        ({'extra_input': {'data': {'filename': 'my.pckl.gzip'}}}, 'names a file or folder'),
        ({'extra_input': {'data': {'test_filename': 'test.pckl.gzip'}}}, 'names a file or folder'),
        ({'extra_input': {'potential': {'filename': 'old.yaml'}}}, 'names a file or folder'),
        ({'extra_input': {'potential': {'initial_potential': 'old.yaml'}}}, 'names a file or folder'),
        ({'extra_input': {'fit': {'weighting': {'filename': 'w.pckl.gzip'}}}}, 'names a file or folder'),
        ({'extra_input': {'fit': {'callbacks': ['os.system']}}}, 'runs Python functions'),
        ({'extra_input': {'fit': {'fit_cycles': 0}}}, 'fit_cycles = 0 is outside'),
        ({'extra_input': {'fit': {'ladder_step': -3}}}, 'give functions to add'),
        ({'extra_input': {'fit': {'ladder_stepp': 3}}}, 'pacemaker reads no such key'),
        ({'extra_input': {'potential': {'bonds': {'ALL': {'rcut': 7.0}}}}}, 'set by training.cutoff'),
        ({'extra_input': {'potential': {'bonds': {'ALL': {'dcut': 0.05}}}}}, 'training.extra_input_overrides'),
        ({'extra_input': {'metadata': {'reference_energy': '{}'}}}, 'written by the fit'),
        ({'extra_input_overrides': ['fit.maxiter'], 'extra_input': {}}, 'which training.extra_input does not set'),
    ],
)
def test_settings_are_validated(settings, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        TrainingConfig(**settings)
