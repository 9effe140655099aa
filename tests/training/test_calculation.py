"""``PacemakerCalculation``: what prepare_for_submission writes, and the real-pacemaker integration test."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml
from aiida import orm
from aiida.common.folders import SandboxFolder
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

FIXTURES = Path(__file__).parents[1] / 'fixtures'
DATASET = FIXTURES / 'datasets' / 'si_pw_lda.extxyz'
SI_TINY = FIXTURES / 'potentials' / 'si_tiny'


@pytest.fixture
def si_frames():
    from ase.io import read

    return read(DATASET, ':')


@pytest.fixture
def training_set(aiida_profile, si_frames):
    frames = si_frames[:4] + si_frames[10:14]  # four 2-atom and four 8-atom cells
    frames[5].arrays['force_weight'] = np.array([1.0, 1.0, 0.1, 0.1, 1.0, 0.1, 0.1, 0.1])
    return TrainingSetData.from_frames(frames).store()


@pytest.fixture
def si_tiny_potential(aiida_profile):
    return AcePotentialData.from_files(
        SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace', SI_TINY / 'potential.asi'
    ).store()


def _prepare(code, **inputs):
    inputs = {'code': code, 'metadata': {'options': {'resources': {'num_machines': 1}}}, **inputs}
    process = instantiate_process(get_manager().get_runner(), PacemakerCalculation, **inputs)
    folder = SandboxFolder()
    return folder, process.prepare_for_submission(folder)


def _read_pickle(path):
    with gzip.open(path, 'rb') as handle:
        return pickle.load(handle)


def test_cold_start_inputs(fixture_code, training_set, file_regression):
    code = fixture_code('mlip_autopipe.pacemaker', executable='/opt/ace/bin/pacemaker')
    settings = orm.Dict({'functions_per_element': 16, 'maxiter': 50, 'weighting': {'scheme': 'uniform'}})
    folder, calcinfo = _prepare(code, training_set=training_set, settings=settings)
    assert sorted(folder.get_content_list()) == [
        PacemakerCalculation.FILENAME_DECISIONS,
        PacemakerCalculation.FILENAME_INPUT,
        PacemakerCalculation.FILENAME_DATA,
    ]
    text = Path(folder.get_abs_path(PacemakerCalculation.FILENAME_INPUT)).read_text()
    file_regression.check(text, extension='.yaml')
    document = yaml.safe_load(text)
    assert document['data']['filename'] == PacemakerCalculation.FILENAME_DATA
    assert document['fit']['maxiter'] == 50

    (codeinfo,) = calcinfo.codes_info
    assert codeinfo.cmdline_params == ['input.yaml', '--no-predict']
    assert (codeinfo.stdout_name, codeinfo.stderr_name) == ('pacemaker.out', 'pacemaker.err')
    assert calcinfo.retrieve_list == PacemakerCalculation.RETRIEVE_LIST
    assert calcinfo.retrieve_temporary_list == [
        'output_potential.yaml',
        'output_potential.yace',
        'output_potential.asi',
        'interim_potential_*.yaml',
    ]
    assert 'aiida_walltime.txt' in calcinfo.retrieve_list
    assert 'sleep' not in calcinfo.prepend_text  # no max_wallclock_seconds: no watchdog
    assert PacemakerCalculation.FILENAME_DATA in calcinfo.provenance_exclude_list
    assert calcinfo.local_copy_list == []
    # The follow-up tools come from the code's directory, run only after a written potential.
    assert 'PACE_BIN_DIR=/opt/ace/bin' in calcinfo.append_text
    assert 'pace_yaml2yace)" output_potential.yaml -o output_potential.yace' in calcinfo.append_text
    assert 'pace_activeset)" -d fitting_data_info.pckl.gzip output_potential.yaml' in calcinfo.append_text
    assert calcinfo.append_text.index('PACEMAKER_EXIT_STATUS=$?') == 0
    assert 'aiida_steps.txt' in calcinfo.prepend_text

    frame = _read_pickle(folder.get_abs_path(PacemakerCalculation.FILENAME_DATA))
    assert len(frame) == 8
    assert frame['w_forces'][5].tolist() == [1.0, 1.0, 0.1, 0.1, 1.0, 0.1, 0.1, 0.1]
    assert frame['source_uuid'].tolist() == training_set.source_uuids
    assert frame['energy'][0] == training_set.get_frames()[0].get_potential_energy()
    # The default weighting: the structures' energy weights follow their energy above the lowest.
    weighted, _ = _prepare(code, training_set=training_set, settings=orm.Dict({'functions_per_element': 16}))
    energy = _read_pickle(weighted.get_abs_path(PacemakerCalculation.FILENAME_DATA))['w_energy']
    assert energy.sum() == pytest.approx(1.0) and energy.max() > energy.min()


def test_watchdog_enforces_the_walltime_on_the_direct_scheduler(fixture_code, training_set, aiida_computer):
    """core.direct ignores max_wallclock_seconds: the job script stops pacemaker itself; SLURM does it alone."""
    code = fixture_code('mlip_autopipe.pacemaker')
    options = {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 90}
    _, calcinfo = _prepare(code, training_set=training_set, metadata={'options': options})
    assert 'sleep 90 && echo "walltime 90" > aiida_walltime.txt' in calcinfo.prepend_text
    assert calcinfo.prepend_text.startswith('echo "pacemaker start')  # the step record stays first
    # The watchdog stops before anything else reads the exit status or runs the follow-ups.
    lines = calcinfo.append_text.splitlines()
    assert lines[0] == 'PACEMAKER_EXIT_STATUS=$?'
    assert lines[1].startswith('pkill -P "$AIIDA_WATCHDOG"')

    slurm = aiida_computer(label='slurm-cluster', scheduler_type='core.slurm')
    remote_code = orm.InstalledCode(
        computer=slurm, filepath_executable='/opt/bin/pacemaker', default_calc_job_plugin='mlip_autopipe.pacemaker'
    ).store()
    _, calcinfo = _prepare(remote_code, training_set=training_set, metadata={'options': options})
    assert 'sleep' not in calcinfo.prepend_text
    assert 'AIIDA_WATCHDOG' not in calcinfo.append_text


def test_user_append_text_makes_the_exit_status_unknown(fixture_code, training_set):
    code = fixture_code('mlip_autopipe.pacemaker')
    inputs = {
        'code': code,
        'training_set': training_set,
        'metadata': {'options': {'resources': {'num_machines': 1}, 'append_text': 'echo done'}},
    }
    process = instantiate_process(get_manager().get_runner(), PacemakerCalculation, **inputs)
    calcinfo = process.prepare_for_submission(SandboxFolder())
    assert calcinfo.append_text.startswith('PACEMAKER_EXIT_STATUS="unknown"')


def test_warm_start_and_test_set(fixture_code, training_set, si_frames, si_tiny_potential, file_regression):
    code = fixture_code('mlip_autopipe.pacemaker')
    test_set = TrainingSetData.from_frames(si_frames[20:]).store()
    settings = orm.Dict({'functions_per_element': 16, 'maxiter': 10})
    folder, _ = _prepare(
        code, training_set=training_set, test_set=test_set, settings=settings, initial_potential=si_tiny_potential
    )
    names = set(folder.get_content_list())
    assert {PacemakerCalculation.FILENAME_TEST_DATA, PacemakerCalculation.FILENAME_INITIAL_POTENTIAL} <= names
    text = Path(folder.get_abs_path(PacemakerCalculation.FILENAME_INPUT)).read_text()
    file_regression.check(text, extension='.yaml')
    document = yaml.safe_load(text)
    assert document['potential'] == {'filename': 'initial_potential.yaml'}
    assert document['data']['test_filename'] == 'test_set.pckl.gzip'
    assert document['data']['reference_energy']['Si'] == pytest.approx(-107.6137626221)
    # The copy pacemaker starts from carries the coefficients of the previous fit and the current core.
    initial = yaml.safe_load(Path(folder.get_abs_path('initial_potential.yaml')).read_text())
    previous = yaml.safe_load((SI_TINY / 'potential.yaml').read_text())
    assert initial['species'][0]['nbody'] == previous['species'][0]['nbody']
    assert initial['species'][0]['inner_cutoff_type'] == 'zbl'
    # 8 frames here: the shortest Si-Si distance is longer, so the chemistry-based cutoff applies.
    assert initial['species'][0]['r_in'] == pytest.approx(1.665)
    import json

    decisions = json.loads(Path(folder.get_abs_path(PacemakerCalculation.FILENAME_DECISIONS)).read_text())
    assert decisions['warm_start'] == 'upfit'
    assert any('initial potential repulsion updated' in note for note in decisions['notes'])
    assert len(_read_pickle(folder.get_abs_path('test_set.pckl.gzip'))) == 4


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'settings': {'maxiter': 0}}, 'maxiter: Input should be greater than or equal to 1'),
        ({'settings': {'cutof': 5.0}}, 'cutof: Extra inputs are not permitted'),
        ({'empty_training_set': True}, 'the training set has no frames'),
        ({'test_set_elements': True}, "the test set contains ['Ge']"),
    ],
)
def test_validation(fixture_code, training_set, change, message):
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    inputs = {'code': fixture_code('mlip_autopipe.pacemaker'), 'training_set': training_set}
    if 'settings' in change:
        inputs['settings'] = orm.Dict(change['settings'])
    if change.get('empty_training_set'):
        inputs['training_set'] = TrainingSetData.from_frames([])
    if change.get('test_set_elements'):
        atoms = bulk('Ge', 'diamond', a=5.65)
        atoms.calc = SinglePointCalculator(atoms, energy=-200.0, forces=np.zeros((2, 3)))
        inputs['test_set'] = TrainingSetData.from_frames([atoms])
    builder = PacemakerCalculation.get_builder()
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        builder._update(inputs)
        instantiate_process(get_manager().get_runner(), PacemakerCalculation, **inputs)


# ---------------------------------------------------------------------------------------
# Real pacemaker


@pytest.mark.integration
def test_real_fit_then_warm_start(codes_from_setup, si_frames):
    """Two real fits through the engine: a cold fit, then one warm-started from its potential."""
    from aiida.engine import run_get_node

    if 'pacemaker' not in codes_from_setup:
        pytest.skip('pacemaker is not installed')
    code = codes_from_setup['pacemaker']
    training_set = TrainingSetData.from_frames(si_frames[::3] + si_frames[-3:]).store()  # 11 frames, 56 atoms
    settings = {'functions_per_element': 8, 'maxiter': 8, 'display_step': 4, 'test_fraction': 0.2}
    options = {'max_wallclock_seconds': 300}

    first, node = run_get_node(
        PacemakerCalculation,
        code=code,
        training_set=training_set,
        settings=orm.Dict(settings),
        metadata={'options': options},
    )
    assert node.is_finished_ok, node.exit_message
    potential = first['potential']
    assert sorted(potential.base.repository.list_object_names()) == [
        'potential.asi',
        'potential.yace',
        'potential.yaml',
    ]
    metrics = first['metrics'].get_dict()
    assert metrics['number_of_functions'] == 8
    assert metrics['iterations'] == 8
    assert metrics['train_structures'] + metrics['test_structures'] == 11
    assert metrics['warm_start'] is None
    assert metrics['train_force_rmse'] > 0 and metrics['test_energy_rmse'] > 0
    calc = potential.get_calculator(active_set=True)
    atoms = si_frames[1].copy()
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    assert calc.results['gamma'].shape == (len(atoms),)

    second, warm = run_get_node(
        PacemakerCalculation,
        code=code,
        training_set=training_set,
        settings=orm.Dict(settings),
        initial_potential=potential,
        metadata={'options': options},
    )
    assert warm.is_finished_ok, warm.exit_message
    # Provenance: the first fit's potential is an input of the second.
    assert warm.base.links.get_incoming(link_label_filter='initial_potential').one().node.uuid == potential.uuid
    # The log shows pacemaker loading it, and the second fit starts where the first ended.
    log = warm.outputs.retrieved.base.repository.get_object_content('log.txt')
    assert "Target potential loaded from file 'initial_potential.yaml', it contains 8 functions" in log
    warm_metrics = second['metrics'].get_dict()
    assert warm_metrics['warm_start'] == 'upfit'
    start_loss = second['learning_curve'].get_array('train_loss')[0]
    assert start_loss == pytest.approx(metrics['final_loss'], rel=1e-6)
    assert warm_metrics['final_loss'] <= start_loss
