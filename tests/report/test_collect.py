"""Status of a running run (from the progress extra) and of a finished one (from its outputs)."""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType
from plumpy import ProcessState

from aiida_mlip_autopipe.common.names import PROGRESS_EXTRA
from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.report.collect import collect_run
from aiida_mlip_autopipe.report.document import status_table

HISTORY = [
    {
        'generation': 0,
        'candidates': 48,
        'selected': 8,
        'labels_tried': 8,
        'labels_failed': 1,
        'labels_total': 7,
        'train_force_rmse': 80.0,
        'md_runs': 2,
        'md_halted': 2,
        'max_gamma': 11.9,
        'uncertain_fraction': 0.98,
        'timings': {'dft': 60.0, 'training': 20.0},
    },
    {'generation': 1, 'candidates': 5, 'selected': 5, 'labels_tried': 0, 'labels_total': 7, 'timings': {}},
]


def _run_node(state: ProcessState, exit_status: int | None = None) -> orm.WorkflowNode:
    config = orm.Dict(parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}}).to_dict()).store()
    node = orm.WorkflowNode()
    node.set_process_type('aiida.workflows:mlip_autopipe.active_learning')
    node.set_process_state(state)
    if exit_status is not None:
        node.set_exit_status(exit_status)
    node.base.links.add_incoming(config, link_type=LinkType.INPUT_WORK, link_label='config')
    node.store()
    return node


def test_status_of_a_running_run(aiida_profile):
    node = _run_node(ProcessState.WAITING)
    node.base.extras.set(PROGRESS_EXTRA, {'generation': 1, 'phase': 'dft', 'history': HISTORY, 'stop': None})
    run = collect_run(node)
    assert not run.finished and run.phase == 'dft'
    table = status_table(run)
    assert f'ActiveLearningWorkChain<{node.pk}>' in table and 'waiting, phase dft' in table
    assert '  0    48    8            7/1      7     80.0' in table
    assert 'closest stop rule: max_generations (50% of the way)' in table


def test_status_of_a_finished_run(aiida_profile):
    node = _run_node(ProcessState.FINISHED, exit_status=0)
    history = orm.Dict({'generations': HISTORY[:1]}).store()
    stop = orm.Dict({'rule': 'exploration_stable', 'message': 'generation 0: 0.00% of MD frames above gamma_lower'})
    stop.store()
    for label, data in (('history', history), ('stop', stop)):
        data.base.links.add_incoming(node, link_type=LinkType.RETURN, link_label=label)
    node.seal()
    run = collect_run(node)
    assert run.finished
    table = status_table(run)
    assert 'finished [0]' in table
    assert 'stopped by exploration_stable: generation 0' in table
