"""Kill the daemon hard while pw.x runs, bring it back, and check that no finished DFT runs again.

Real daemon (circus + ZeroMQ broker, as made by ``verdi presto``), real pw.x on 2-atom Si. The
pw.x jobs are children of the scheduler, not of the worker, so they keep running while the
worker is dead; the new worker reloads every process from its last checkpoint and re-attaches
to the running jobs by their job id.

``RUNS`` says what is submitted; the harness is indifferent to it. ``labelling`` is a
``LabellingWorkChain`` of four cells; ``active_learning`` is a whole ``ActiveLearningWorkChain``
(one generation: candidates, selection, DFT of four cells, fit, MD, extraction), killed while
the DFT of generation 0 runs, which must then fit and explore exactly once on the new worker.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from aiida import orm
from aiida.common.links import LinkType

from aiida_mlip_autopipe.labelling.config import DFTConfig
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

from .harness import reporting_pids, run_with_hard_kill, run_with_kill_in_phase, write_summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUM_STRUCTURES = 4


def labelling_run(code, structures) -> tuple[object, int]:
    """A labelling of ``structures``, two pw.x at a time (two cores): the kill comes between two batches.

    :returns: the builder and the number of ``PwCalculation``s a clean run makes.
    """
    builder = LabellingWorkChain.get_builder_from_protocol(
        code, structures, dft=DFTConfig(kpoints_distance=0.5, max_concurrent=2)
    )
    return builder, len(structures)


#: The smallest whole loop with a window for the kill in its DFT: one generation, four 2-atom Si
#: cells chosen by FPS from eight candidates and labelled two at a time, a 4-function fit (four
#: 2-atom cells give 8 environments; pace_activeset drops force outliers, so 8 functions can
#: leave it under-determined), 100 MD steps on 8 atoms, no validation.
LOOP_CONFIG = {
    'name': 'reliability-kill-resume',
    'seed': 5,
    'target': {'elements': ['Si'], 'prototype': 'diamond', 'lattice_constant': 5.40, 'supercell_atoms': [2]},
    'generator': {
        'operations': [
            {'kind': 'strain', 'volumetric': [-0.04, 0.04], 'shear': 0.02, 'copies': 3},
            {'kind': 'rattle', 'stdev': 0.05, 'copies': 1},
        ]
    },
    'screening': {'model': 'none'},
    'selection': {'n_select': 4},
    'dft': {'kpoints_distance': 0.5, 'max_concurrent': 2},
    'training': {'functions_per_element': 4, 'maxiter': 10, 'test_fraction': 0.0},
    'exploration': {
        'temperatures': [1200],
        'n_steps': 100,
        'thermo_interval': 10,
        'dump_interval': 10,
        'supercell_atoms': 8,
        'gamma_lower': 1.5,
        'gamma_upper': 50,
        'extraction': {'max_atoms': 8, 'max_environments': 2},
    },
    'loop': {'max_generations': 1, 'dft_budget': 4, 'holdout': 0, 'final_fit': {'enabled': False}},
    'validation': {'enabled': False},
}


def loop_codes(pw_code) -> dict[str, orm.AbstractCode]:
    """The pw, pacemaker, LAMMPS and stage-job Python codes on the computer of ``pw_code``, as ``setup`` has them."""
    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    codes = {'pw': pw_code}
    for spec in default_code_specs():
        if spec.label in ('pacemaker', 'lammps', 'mlip-python'):
            try:
                code = ensure_code(spec, computer_label=pw_code.computer.label, echo=lambda _: None)
            except FileNotFoundError as exc:
                pytest.skip(str(exc))
            if spec.label == 'mlip-python':  # screening, selection, uncertainty and extraction jobs
                codes.update(dict.fromkeys(('screening', 'selection', 'uncertainty', 'extraction'), code))
            else:
                codes[spec.label] = code
    return codes


def active_learning_run(code, structures) -> tuple[object, int]:
    """A whole one-generation loop (``LOOP_CONFIG``); ``structures`` is not used, the loop makes its own.

    :returns: the builder and the number of ``PwCalculation``s a clean run makes (the DFT budget).
    """
    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        parse_config(LOOP_CONFIG), codes=loop_codes(code), protocol='fast'
    )
    return builder, LOOP_CONFIG['loop']['dft_budget']


#: What is killed and resumed: ``factory(pw_code, structures) -> (builder, expected PwCalculations)``.
RUNS: dict[str, Callable] = {'labelling': labelling_run, 'active_learning': active_learning_run}

#: Kill modes per run on the presto profile. The whole loop takes the hardest one (the daemon and
#: its broker die) to keep the set short; ``test_scale_out`` kills it with ``restart`` as well.
PRESTO_MODES: dict[str, tuple[str, ...]] = {'labelling': ('workers', 'daemon'), 'active_learning': ('daemon',)}


def assert_resumed_without_recomputation(node, record, expected_pw: int) -> None:
    """The checks shared by every run, profile and kill mode."""
    assert node.is_finished_ok, f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}'
    # The kill came while DFT was half done: some pw.x finished, others were running.
    assert record.finished_before_kill
    assert record.running_at_kill
    assert set(record.killed_worker_pids).isdisjoint(record.new_worker_pids)
    # Not one pw.x ran twice: none repeats another, and there are as many as in a clean run.
    assert record.recomputed == []
    assert record.pw_calculations == expected_pw + record.handler_restarts
    # The jobs that ran through the kill were re-attached, not resubmitted.
    assert record.job_ids_after == record.running_at_kill
    # A new worker carried on: the run reported from another OS process after the kill.
    assert record.resumed_by_pids
    assert set(record.resumed_by_pids).isdisjoint(record.killed_worker_pids)
    assert set(record.resumed_by_pids) <= set(record.new_worker_pids) | set(record.interim_worker_pids)


def labels_lost_to_the_kill(node) -> list[str]:
    """Keys of the labels a kill cost (of ``node``, or of the labelling of generation 0 of a loop); see below."""
    if node.process_label == 'ActiveLearningWorkChain':
        return _labels_lost(_called(node, 'label_gen00'))
    return _labels_lost(node)


def _called(node, link_label: str):
    """The process ``node`` called with ``link_label``."""
    return node.base.links.get_outgoing(link_label_filter=link_label).one().node


def _labels_lost(node) -> list[str]:
    """Keys of the labels a kill cost; there must be none, and every structure must be in the training set.

    A worker killed while a ``PwBaseWorkChain`` runs its last step (``results``, attaching the
    outputs) leaves a work chain that, resumed, finishes with exit status 11 ("did not register
    a required output") although its outputs are attached and its ``PwCalculation`` finished ok.
    ``LabellingWorkChain`` keeps such labels (the DFT is intact), so a kill costs no label.
    """
    lost = [failure['key'] for failure in node.outputs.failures.get_dict()['failed']]
    assert not lost, node.outputs.failures.get_dict()
    frames = node.outputs.training_set.get_frames()
    kept = {key: s.uuid for key, s in node.inputs.structures.items() if key not in lost}
    assert sorted(frame.info['structure_uuid'] for frame in frames) == sorted(kept.values())
    return lost


def assert_loop_went_on_once(node, expected_pw: int, lost: list[str]) -> None:
    """A resumed loop ran each of its steps once (fit, MD, extraction included), on every label the DFT gave."""
    # A step that ran again after the kill would call its calcfunction or calculation a second time.
    called = [
        link.link_label
        for link in node.base.links.get_outgoing(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all()
    ]
    assert sorted(called) == sorted(set(called)), called
    assert {'generate_gen00', 'select_gen00', 'label_gen00', 'train_gen00', 'extract_gen00'} <= set(called)
    calcs = {label: [] for label in ('PacemakerCalculation', 'LammpsCalculation')}
    for child in node.called_descendants:
        if child.process_label in calcs:
            calcs[child.process_label].append(child)
    assert [c.exit_status for c in calcs['PacemakerCalculation']] == [0]
    assert [c.exit_status for c in calcs['LammpsCalculation']] == [0]
    assert node.outputs.training_set.num_frames == expected_pw - len(lost)
    assert node.outputs.potential.uuid == calcs['PacemakerCalculation'][0].outputs.potential.uuid
    (generation,) = node.outputs.history['generations']
    assert generation['labels_total'] == expected_pw - len(lost)
    assert generation['md_runs'] == 1 and generation['md_failed'] == 0
    assert node.outputs.stop['rule'] in {'max_generations', 'dft_budget'}


KILLS = [(run, mode) for run in sorted(RUNS) for mode in PRESTO_MODES[run]]


@pytest.mark.parametrize(('run', 'mode'), KILLS, ids=[f'{mode}-{run}' for run, mode in KILLS])
def test_kill_workers_and_resume(daemon_profile, si_cells, mode, run):
    """``workers``: SIGKILL the worker, circus starts a new one. ``daemon``: SIGKILL worker and daemon, start anew."""
    structures = si_cells(NUM_STRUCTURES, seed=10 if mode == 'workers' else 20)
    builder, expected_pw = RUNS[run](daemon_profile.pw_code, structures)
    node, record = run_with_hard_kill(
        builder, daemon_profile.client, mode=mode, number_workers=daemon_profile.number_workers, timeout=300
    )
    lost = labels_lost_to_the_kill(node) if node.is_finished_ok else []
    assert_resumed_without_recomputation(node, record, expected_pw)
    assert record.handler_restarts == 0
    if run == 'active_learning':
        assert_loop_went_on_once(node, expected_pw, lost)
    # Before the kill the run was driven by the worker that was killed.
    before = reporting_pids(node) - set(record.resumed_by_pids)
    assert before <= set(record.killed_worker_pids)
    # Written once every assert above has passed: the table shows only what was checked.
    write_summary(
        'kill_resume',
        {'profile': PRESTO, 'run': run, 'labels_lost': lost, **record.to_dict()},
    )


# --- kills in every phase of the loop ----------------------------------------------------------


def phase_config(**changes) -> dict:
    """``LOOP_CONFIG`` with ``changes`` merged into its sections (``{'training': {'maxiter': 200}}``)."""
    config = copy.deepcopy(LOOP_CONFIG)
    for section, values in changes.items():
        config[section] = {**config[section], **values}
    return config


#: A loop of two generations: 4 labels in generation 0, the 2 MD cut-outs of generation 0 in generation 1.
TWO_GENERATIONS = {'loop': {'max_generations': 2, 'dft_budget': 6}}

#: ``id: (phase, generation, kill mode, config changes)``. The fit and the MD of the cases that kill
#: them are made long enough (pacemaker iterations, MD steps) to be caught with their job running;
#: the stage jobs (screening, selection) take a few seconds each as they are.
PHASE_KILLS: dict[str, tuple[str, int, str, dict]] = {
    'screening': ('screening', 0, 'workers', {}),
    'selection': ('selection', 0, 'daemon', {}),
    'training': ('training', 0, 'daemon', {'training': {'maxiter': 300}}),
    'md': ('md', 0, 'workers', {'exploration': {'n_steps': 20000}}),
    'training-gen1': ('training', 1, 'daemon', {**TWO_GENERATIONS, 'training': {'maxiter': 300}}),
}

PRESTO = 'presto (core.sqlite_dos + core.zeromq)'


def phase_run(pw_code, config: dict):
    """A builder of the loop of ``config`` (a ``LOOP_CONFIG`` variant) with the codes of ``setup``."""
    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    return ActiveLearningWorkChain.get_builder_from_protocol(
        parse_config(config), codes=loop_codes(pw_code), protocol='fast'
    )


def assert_resumed_in_phase(node, record, config: dict) -> None:
    """A loop killed in a phase finished, ran every step once, and used what had finished before the kill."""
    assert node.is_finished_ok, f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}'
    # The kill came while a job of the phase ran, and the job had finished steps before it.
    assert record.job_alive_at_kill
    assert record.finished_before_kill
    assert set(record.killed_worker_pids).isdisjoint(record.new_worker_pids)
    # The job that ran through the kill was re-attached by the new worker (same node, same scheduler job), not rerun.
    assert record.job_exit_status == 0
    assert record.job_id_after == record.job_id_at_kill
    # Nothing that had finished ran again: each step's slot holds the process it held before the kill,
    # and no slot below the loop (steps, jobs, restart iterations) was filled twice.
    assert record.slots_before_kill
    assert record.slots_after == record.slots_before_kill
    assert record.repeated == {}
    # A new worker carried on.
    assert record.resumed_by_pids
    assert set(record.resumed_by_pids) <= set(record.new_worker_pids) | set(record.interim_worker_pids)
    # One job of each kind per generation, and as many pw.x runs as labels.
    generations = node.outputs.history['generations']
    expected_generations = record.generation + 1
    assert len(generations) == expected_generations, generations
    labels = config['loop']['dft_budget']  # no pw.x failed here, so no handler restarts either
    assert record.jobs_per_kind == {
        'ScreeningCalculation': expected_generations,
        'SelectionCalculation': expected_generations,
        'PwCalculation': labels,
        'PacemakerCalculation': expected_generations,
        'LammpsCalculation': expected_generations,
    }, record.jobs_per_kind
    assert all(g['md_runs'] == 1 and g['md_failed'] == 0 for g in generations)
    assert node.outputs.training_set.num_frames == labels
    fits = sorted((c for c in node.called_descendants if c.process_label == 'PacemakerCalculation'), key=lambda c: c.pk)
    assert [c.exit_status for c in fits] == [0] * expected_generations
    assert node.outputs.potential.uuid == fits[-1].outputs.potential.uuid
    # A stop rule ended it, not an error (a later generation may find the exploration stable).
    assert node.outputs.stop['rule'] in {'max_generations', 'dft_budget', 'exploration_stable'}, node.outputs.stop
    if record.generation >= 1:
        # Generation 0 had ended before the kill: its fit and MD are among what finished, and were kept.
        done = set(record.finished_before_kill.values())
        assert {'PacemakerCalculation', 'LammpsCalculation'} <= done, done
        assert str(fits[0].pk) in record.finished_before_kill


PHASE_IDS = sorted(PHASE_KILLS)


@pytest.mark.parametrize('case', PHASE_IDS)
def test_kill_in_phase_and_resume(daemon_profile, case):
    """The loop killed with a job of ``phase`` running (in ``generation``) resumes, recomputing nothing finished."""
    phase, generation, mode, changes = PHASE_KILLS[case]
    config = phase_config(**changes)
    node, record = run_with_kill_in_phase(
        phase_run(daemon_profile.pw_code, config),
        daemon_profile.client,
        phase=phase,
        generation=generation,
        mode=mode,
        number_workers=daemon_profile.number_workers,
        timeout=400,
    )
    assert_resumed_in_phase(node, record, config)
    write_summary('kill_phase', {'profile': PRESTO, 'case': case, **record.to_dict()})
