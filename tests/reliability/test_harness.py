"""The accounting of the harness: a repeated pw.x run is counted, a handler restart is not.

"0 DFT recomputed" in the reliability table is only worth something if the counter does find
a repeat when there is one; these tests build the provenance of both cases by hand.
"""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType

from .harness import PW_PROCESS_TYPE, handler_restarts, pw_calculations, recomputed_pw


def _pw_calc(caller: orm.WorkflowNode, structure, parameters: dict, label: str, parent=None) -> orm.CalcJobNode:
    calc = orm.CalcJobNode(process_type=PW_PROCESS_TYPE)
    calc.base.links.add_incoming(structure, LinkType.INPUT_CALC, 'structure')
    calc.base.links.add_incoming(orm.Dict(parameters).store(), LinkType.INPUT_CALC, 'parameters')
    if parent is not None:
        calc.base.links.add_incoming(parent, LinkType.INPUT_CALC, 'parent_folder')
    calc.base.links.add_incoming(caller, LinkType.CALL_CALC, label)
    return calc.store()


def _work_chain(parent: orm.WorkflowNode | None = None, label: str = 'label_x') -> orm.WorkflowNode:
    node = orm.WorkflowNode()
    if parent is not None:
        node.base.links.add_incoming(parent, LinkType.CALL_WORK, label)
    return node.store()


def test_a_repeated_run_is_counted(aiida_profile, aiida_localhost, si_atoms):
    top = _work_chain()
    structure = orm.StructureData(ase=si_atoms).store()
    first = _pw_calc(_work_chain(top), structure, {'SYSTEM': {'ecutwfc': 24}}, 'iteration_01')
    # The same computation again, as a replayed step would launch it (under a new PwBaseWorkChain).
    again = _pw_calc(_work_chain(top, 'label_x_again'), structure, {'SYSTEM': {'ecutwfc': 24}}, 'iteration_01')
    assert [c.uuid for c in pw_calculations(top)] == [first.uuid, again.uuid]
    assert recomputed_pw(top) == [again.uuid]


def test_a_handler_restart_is_not_a_repeat(aiida_profile, aiida_localhost, si_atoms):
    top = _work_chain()
    base = _work_chain(top)
    structure = orm.StructureData(ase=si_atoms).store()
    first = _pw_calc(base, structure, {'ELECTRONS': {'mixing_beta': 0.4}}, 'iteration_01')
    remote = orm.RemoteData(remote_path='/tmp', computer=aiida_localhost)
    remote.base.links.add_incoming(first, LinkType.CREATE, 'remote_folder')
    remote.store()
    _pw_calc(
        base,
        structure,
        {'ELECTRONS': {'mixing_beta': 0.32}, 'CONTROL': {'restart_mode': 'restart'}},
        'iteration_02',
        parent=remote,
    )
    assert recomputed_pw(top) == []
    assert handler_restarts(top) == 1


def test_other_structures_are_not_repeats(aiida_profile, aiida_localhost, si_atoms):
    top = _work_chain()
    for shift in (0.0, 0.01):
        atoms = si_atoms.copy()
        atoms.positions[0, 0] += shift
        _pw_calc(_work_chain(top), orm.StructureData(ase=atoms).store(), {'SYSTEM': {}}, 'iteration_01')
    assert recomputed_pw(top) == []
    assert handler_restarts(top) == 0
