"""Kill the daemon hard while pw.x runs, bring it back, and check that no finished DFT runs again.

Real daemon (circus + ZeroMQ broker, as made by ``verdi presto``), real pw.x on 2-atom Si. The
pw.x jobs are children of the scheduler, not of the worker, so they keep running while the
worker is dead; the new worker reloads every process from its last checkpoint and re-attaches
to the running jobs by their job id.

``RUNS`` says what is submitted; the harness is indifferent to it, so a full active-learning run
is added there as one more entry when ``ActiveLearningWorkChain`` lands.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiida_mlip_autopipe.config import DFTConfig
from aiida_mlip_autopipe.workflows.labelling import LabellingWorkChain

from .harness import reporting_pids, run_with_hard_kill, write_summary

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


#: What is killed and resumed: ``factory(pw_code, structures) -> (builder, expected PwCalculations)``.
RUNS: dict[str, Callable] = {'labelling': labelling_run}


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


@pytest.mark.parametrize('run', sorted(RUNS))
@pytest.mark.parametrize('mode', ['workers', 'daemon'])
def test_kill_workers_and_resume(daemon_profile, si_cells, mode, run):
    """``workers``: SIGKILL the worker, circus starts a new one. ``daemon``: SIGKILL worker and daemon, start anew."""
    structures = si_cells(NUM_STRUCTURES, seed=10 if mode == 'workers' else 20)
    builder, expected_pw = RUNS[run](daemon_profile.pw_code, structures)
    node, record = run_with_hard_kill(
        builder, daemon_profile.client, mode=mode, number_workers=daemon_profile.number_workers, timeout=300
    )
    lost = labels_lost_to_the_kill(node) if run == 'labelling' and node.is_finished_ok else []
    write_summary(
        'kill_resume',
        {'profile': 'presto (core.sqlite_dos + core.zeromq)', 'run': run, 'labels_lost': lost, **record.to_dict()},
    )
    assert_resumed_without_recomputation(node, record, expected_pw)
    assert record.handler_restarts == 0
    # Before the kill the run was driven by the worker that was killed.
    before = reporting_pids(node) - set(record.resumed_by_pids)
    assert before <= set(record.killed_worker_pids)
