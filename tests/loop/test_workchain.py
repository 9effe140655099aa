"""ActiveLearningWorkChain: protocol builder, step decisions on faked children, and one real end-to-end loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm

from aiida_mlip_autopipe.config import load_config, parse_config
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain
from tests.utils import finished_calcjob, finished_workflow, instantiate

CONFIGS = Path(__file__).parent / 'configs'
FIXTURES = Path(__file__).parents[1] / 'fixtures'
SI_TINY = FIXTURES / 'potentials' / 'si_tiny'


@pytest.fixture
def config():
    return load_config(CONFIGS / 'si_tiny.yaml')


@pytest.fixture
def builder(config, stand_in_codes, stand_in_families):
    """A builder of the step tests: no pw.x runs, so the pw code and the families may be stand-ins."""
    return ActiveLearningWorkChain.get_builder_from_protocol(config, codes=dict(stand_in_codes), protocol='fast')


@pytest.fixture
def process(builder):
    process = instantiate(ActiveLearningWorkChain, **builder._inputs(prune=True))
    process.setup()
    return process


@pytest.fixture
def potential(aiida_profile):
    return AcePotentialData.from_files(
        SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace', SI_TINY / 'potential.asi'
    ).store()


@pytest.fixture
def training_set(aiida_profile):
    from ase.io import read

    return TrainingSetData.from_frames(read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':')[:6]).store()


def test_protocol_fills_what_the_config_leaves_unset(config, stand_in_codes, stand_in_families):
    built = ActiveLearningWorkChain.get_builder_from_protocol(config, codes=stand_in_codes, protocol='stringent')
    resolved = parse_config(built.config.get_dict())
    # Written in the config: kept.
    assert resolved.training.functions_per_element == 8
    assert resolved.loop.max_generations == 2
    # Not written: from the protocol.
    assert resolved.dft.protocol == 'stringent'
    assert resolved.exploration.extraction.max_environments == 2
    built = ActiveLearningWorkChain.get_builder_from_protocol(
        config, codes=stand_in_codes, protocol='fast', overrides={'loop': {'max_generations': 7}}
    )
    assert parse_config(built.config.get_dict()).loop.max_generations == 7


def test_available_protocols():
    assert set(ActiveLearningWorkChain.get_available_protocols()) == {'fast', 'balanced', 'stringent'}
    assert ActiveLearningWorkChain.get_default_protocol() == 'balanced'


def test_builder_has_labelling_template(builder):
    assert set(builder.labelling.dft.pw.pseudos) == {'Si'}
    assert builder.labelling.dft.pw.parameters['CONTROL']['tprnfor'] is True
    assert builder.screening_model.value == 'none'


def test_invalid_config_is_rejected_before_running(builder):
    data = builder.config.get_dict()
    data['dft']['ecutwfc'] = -1
    with pytest.raises(ValueError, match=r'dft.ecutwfc \(got -1\): Input should be greater than 0'):
        builder.config = orm.Dict(data)


def test_setup_state(process):
    assert process.ctx.generation == 0
    assert process.should_run_generation()
    assert process.ctx.gamma_lower == 1.5


def _labelling_child(process, status, training_set=None, failed=0):
    outputs = {'failures': orm.Dict({'failed': [], 'num_failed': failed, 'num_total': 4})}
    if training_set is not None:
        outputs['training_set'] = training_set
    child = finished_workflow(
        status, outputs, process_label='LabellingWorkChain', exit_message='labels failed' if status else None
    )
    process.ctx.history.append(process._new_record(0))
    process.ctx.selected = {f's{i}': None for i in range(4)}
    process.ctx.labelling = child
    return child


def test_label_budget_exceeded_stops_with_401(process):
    _labelling_child(process, 401, failed=2)
    process.inspect_labelling()
    assert process.ctx.exit_code.status == 401
    assert not process.should_run_generation()
    assert process._record()['labels_failed'] == 2


def test_other_labelling_failure_is_402(process):
    _labelling_child(process, 402)
    process.inspect_labelling()
    assert process.ctx.exit_code.status == 402


def test_successful_labels_are_merged(process, training_set):
    from ase.io import read

    process.ctx.training_set = training_set
    new = TrainingSetData.from_frames(read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':')[6:9]).store()
    _labelling_child(process, 0, training_set=new, failed=1)
    process.inspect_labelling()
    assert process.ctx.exit_code is None
    assert process.ctx.training_set.num_frames == 9
    assert process.ctx.labels_total == 9
    assert process._record()['labels_failed'] == 1


def _fit_child(process, status, potential=None):
    outputs = {}
    if potential is not None:
        outputs = {'potential': potential, 'metrics': orm.Dict({'train_force_rmse': 120.0, 'test_force_rmse': 150.0})}
    child = finished_calcjob(
        status, outputs, 'aiida.calculations:mlip_autopipe.pacemaker', exit_message='boom' if status else None
    )
    process.ctx.history.append(process._new_record(0))
    process.ctx.fit = child
    process.ctx.fit_attempt += 1
    return child


def test_fit_with_missing_active_set_is_not_retried(process, training_set):
    process.ctx.training_set = training_set
    assert process.should_run_training()
    _fit_child(process, 411)
    process.inspect_training()
    assert process.ctx.failed_fits == 1
    assert not process.should_run_training()  # deterministic failure: no second try
    assert process.ctx.exit_code is None  # within the budget of 1


def test_a_failed_fit_counts_once_and_the_budget_ends_the_run(process, training_set):
    """The fit's restart work chain retried already: the loop does not, it counts the failure."""
    process.ctx.training_set = training_set
    _fit_child(process, 401)
    process.inspect_training()
    assert not process.should_run_training()
    assert process.ctx.exit_code is None  # 1 failure, budget 1
    process._next_generation({})
    assert process.should_run_training()
    process.ctx.fit = finished_calcjob(401, {}, 'aiida.calculations:mlip_autopipe.pacemaker')
    process.ctx.fit_attempt += 1
    process.inspect_training()
    assert process.ctx.exit_code.status == 403
    assert '2 fits failed, above the budget of 1' in process.ctx.exit_code.message


def test_successful_fit_records_metrics(process, training_set, potential):
    process.ctx.training_set = training_set
    _fit_child(process, 0, potential=potential)
    process.inspect_training()
    assert process.ctx.new_potential.pk == potential.pk
    assert process._record()['test_force_rmse'] == 150.0
    assert not process.should_run_training()


def _md_child(status, summary):
    return finished_calcjob(
        status,
        {'summary': orm.Dict(summary)},
        'aiida.calculations:mlip_autopipe.lammps',
        inputs={'settings': orm.Dict({'n_steps': 100})},
    )


def _explored(process, children):
    process.ctx.history.append(process._new_record(0))
    process.ctx.md_labels = []
    for i, child in enumerate(children):
        process.ctx.md_labels.append(f'run{i}')
        process.ctx[f'md_run{i}'] = child


def test_blow_up_counts_as_uncertainty_not_failure(process):
    ok = _md_child(0, {'steps_run': 100, 'fraction_above_lower': 0.1, 'max_gamma': 3.0, 'halted': False})
    blow = _md_child(401, {'steps_run': 50, 'fraction_above_lower': 0.5, 'max_gamma': 40.0, 'blow_up': True})
    _explored(process, [ok, blow])
    process.inspect_exploration()
    record = process.ctx.history[0]
    assert record['md_failed'] == 0 and record['md_halted'] == 1 and record['md_runs'] == 2
    # 10 + 25 uncertain steps, plus the 50 the blown-up run never reached, of 200 planned.
    assert record['uncertain_fraction'] == pytest.approx((10 + 25 + 50) / 200)
    assert record['max_gamma'] == 40.0
    assert process.ctx.exit_code is None


def test_md_failure_budget(process):
    bad = [
        finished_calcjob(
            400, {}, 'aiida.calculations:mlip_autopipe.lammps', inputs={'settings': orm.Dict({'n_steps': 10})}
        )
        for _ in range(2)
    ]
    _explored(process, bad)
    process.inspect_exploration()
    assert process.ctx.exit_code.status == 404
    assert '2 of 2 MD runs failed' in process.ctx.exit_code.message


def test_stable_exploration_stops(process):
    _explored(
        process, [_md_child(0, {'steps_run': 100, 'fraction_above_lower': 0.0, 'max_gamma': 1.1, 'halted': False})]
    )
    process.inspect_exploration()
    assert process.ctx.trajectories == {}  # nothing uncertain was dumped: no extraction job
    assert process.run_extraction() is None
    process.inspect_extraction()
    assert process.ctx.stop['rule'] == 'exploration_stable'
    assert not process.should_run_generation()


@pytest.mark.integration
@pytest.mark.slow
def test_end_to_end_tiny_loop(config, codes_from_setup, pseudo_families, tmp_path):
    """Two generations on 8-atom Si with real pw.x, pacemaker and the LAMMPS driver (~3 min on 2 cores)."""
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.report.collect import collect_run
    from aiida_mlip_autopipe.report.document import write_report

    builder = ActiveLearningWorkChain.get_builder_from_protocol(config, codes=codes_from_setup, protocol='fast')
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    stop = results['stop'].get_dict()
    assert stop['rule'] in {'max_generations', 'exploration_stable', 'dft_budget', 'rmse_plateau', 'no_new_candidates'}
    history = results['history']['generations']
    assert history[0]['labels_total'] >= 4
    assert results['potential'].has_active_set
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    assert {'generate_gen00', 'screen_gen00', 'select_gen00', 'label_gen00', 'train_gen00', 'extract_gen00'} <= labels
    assert any(label.startswith('md_gen00') for label in labels)
    # Every frame of the final set traces back to a finished PwBaseWorkChain.
    for frame in results['training_set'].get_frames():
        assert orm.load_node(frame.info['workchain_uuid']).is_finished_ok
    # Two held-out labels, never trained on; both refits and the loop potential were measured on them.
    held = {f.info['structure_uuid'] for f in results['holdout'].get_frames()}
    assert len(held) == 2 and not held & {f.info['structure_uuid'] for f in results['training_set'].get_frames()}
    final = results['history']['final_fit']
    assert set(final['errors']) == {'loop', 'seed0', 'seed1'} and final['chosen'] in final['errors']
    assert any(label.startswith('train_final_seed') for label in labels) and 'evaluate_final' in labels
    validation = results['validation'].get_dict()
    assert 'dft' in validation['ev'] and validation['md']['steps_run'] > 0
    report = write_report(collect_run(node), tmp_path)
    assert (tmp_path / 'learning_curve.png').is_file()
    assert f'ActiveLearningWorkChain<{node.pk}>' in report.read_text()
    assert np.isfinite(history[-1]['max_gamma'])
    # Decisions are data (issue 14): calibration/threshold -> MD settings -> MD -> summary -> tally -> decision -> stop.
    called = {link.link_label: link.node for link in node.base.links.get_outgoing().all()}
    md = next(child for label, child in sorted(called.items()) if label.startswith('md_gen00'))
    assert md.process_label == 'LammpsBaseWorkChain'
    settings = md.inputs.lammps.settings
    assert settings.creator.process_label == 'md_settings_with_threshold'
    assert settings['gamma_lower'] == pytest.approx(history[0]['gamma_lower'])
    tally = called['tally_exploration_gen00']
    summaries = [link.node for link in tally.base.links.get_incoming().all() if link.link_label.startswith('md_gen00')]
    assert summaries and all(summary.creator.process_label == 'LammpsCalculation' for summary in summaries)
    last = len(history) - 1
    decision = called[f'decide_stop_gen{last:02d}']
    assert decision.inputs.exploration.creator.uuid == called[f'tally_exploration_gen{last:02d}'].uuid
    assert results['stop'].creator.inputs.stop.creator.uuid == decision.uuid
    assert decision.outputs.result['rule'] == stop['rule']


def _run_jobs(process, step):
    """Call a ``run_*`` step whose jobs really run (on localhost), and put them in the context as the engine would."""
    from aiida.engine import run_get_node

    process.submit = lambda process_class, **inputs: run_get_node(process_class, **inputs)[1]
    awaited = step() or {}
    for key, node in awaited.items():
        assert node.is_finished_ok, f'{key}: [{node.exit_status}] {node.exit_message}'
        process.ctx[key] = node
    return awaited


def _generation_one(process, potential, training_set, pool):
    process.ctx.history.append(process._new_record(1))
    process.ctx.generation = 1
    process.ctx.potential = potential
    process.ctx.training_set = training_set
    process.ctx.labels_total = training_set.num_frames
    process.ctx.candidates = {}
    process.ctx.pool = pool


def test_pool_candidates_the_potential_does_not_know_come_back(process, potential, training_set, si_atoms):
    """Generation 1 without new MD candidates: uncertain leftovers of the pool are selected, known ones are not."""
    crystal = si_atoms.repeat((2, 2, 1))
    squeezed = crystal.copy()
    squeezed.set_cell(crystal.cell * 0.85, scale_atoms=True)
    squeezed.rattle(0.15, seed=2)
    pool = {'g00_c0001': orm.StructureData(ase=crystal).store(), 'g00_c0002': orm.StructureData(ase=squeezed).store()}
    _generation_one(process, potential, training_set, pool)
    jobs = _run_jobs(process, process.run_screening)
    assert set(jobs) == {'scoring'} and jobs['scoring'].process_label == 'ScoringCalculation'
    process.inspect_screening()
    assert list(process.ctx.screened) == ['g00_c0002']
    jobs = _run_jobs(process, process.run_selection)
    assert jobs['selection'].process_label == 'SelectionCalculation'
    process.inspect_selection()
    assert list(process.ctx.selected) == ['g00_c0002']
    assert list(process.ctx.pool) == ['g00_c0001']
    assert process._record()['pool_uncertain'] == 1
    assert process.has_selection()


def test_nothing_uncertain_ends_the_loop(process, potential, training_set, si_atoms):
    _generation_one(
        process, potential, training_set, {'g00_c0001': orm.StructureData(ase=si_atoms.repeat((2, 2, 1))).store()}
    )
    _run_jobs(process, process.run_screening)
    process.inspect_screening()
    assert process.ctx.stop['rule'] == 'no_new_candidates'
    assert process.run_selection() is None
    assert not process.has_selection()
    assert not process.should_run_training()
    assert not process.should_run_generation()


def test_everything_rejected_in_generation_zero_is_301(process):
    """No candidate survives screening and nothing is labelled yet: exit 301, not a later 'no potential'."""
    rejected = finished_calcjob(
        0,
        {'verdicts': orm.Dict({'n_kept': 0})},
        'aiida.calculations:mlip_autopipe.screening',
    )
    process.ctx.candidates = {'c0000': orm.StructureData(cell=[[3, 0, 0], [0, 3, 0], [0, 0, 3]]).store()}
    process.ctx.history.append(process._new_record(0))
    process.ctx.n_select = 4
    process.ctx['screening'] = rejected
    process.inspect_screening()
    assert process.ctx.exit_code.status == 301
    assert 'every candidate was rejected by screening' in process.ctx.exit_code.message
    assert not process.should_run_generation()


def test_a_failed_stage_job_stops_the_run_with_406(process):
    failed = finished_calcjob(
        400, {}, 'aiida.calculations:mlip_autopipe.selection', exit_message='The job failed: ValueError: boom.'
    )
    process.ctx.history.append(process._new_record(0))
    process.ctx['selection'] = failed
    process.inspect_selection()
    assert process.ctx.exit_code.status == 406
    assert 'selection job' in process.ctx.exit_code.message and 'boom' in process.ctx.exit_code.message
    assert process._record()['job_failures'][0]['fatal'] is True


def test_a_failed_fit_does_not_end_the_fits_of_later_generations(process, training_set, potential):
    """Issue 14: a fit that fails for good (411: same data, same failure) is not retried in its generation,
    but the next generation, with new labels, fits again; the reuse of the old potential is recorded."""
    process.ctx.training_set = training_set
    process.ctx.potential = potential
    _fit_child(process, 411)
    process.inspect_training()
    assert not process.should_run_training()
    uncertain = _md_child(0, {'steps_run': 100, 'fraction_above_lower': 0.5, 'max_gamma': 9.0, 'halted': False})
    process.ctx.md_labels = ['run0']
    process.ctx['md_run0'] = uncertain
    process.inspect_exploration()
    from ase.build import bulk

    cut = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    process.ctx.extraction = finished_calcjob(
        0, {'structures__cut_000': cut}, 'aiida.calculations:mlip_autopipe.extraction'
    )
    process.inspect_extraction()
    assert process.ctx.stop is None, process.ctx.stop
    assert process.ctx.generation == 1
    decision = process.ctx.history[0]['decision']
    assert decision['stop'] is False and orm.load_node(decision['uuid']).creator.process_label == 'decide_stop'
    assert process.should_run_training()  # before: the attempt counter stayed at its maximum for good
