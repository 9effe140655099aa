"""Helpers shared by tests: config variations, fake finished child processes for work-chain step tests."""

from __future__ import annotations

import copy

from aiida import orm
from aiida.common.links import LinkType
from plumpy import ProcessState

#: The smallest valid config: every other value takes its default.
MINIMAL_CONFIG = {'target': {'elements': ['Si'], 'prototype': 'diamond'}}


def with_change(path: str, value, base=MINIMAL_CONFIG):
    """A copy of ``base`` with ``value`` at the dotted ``path`` (``None`` deletes the key)."""
    data = copy.deepcopy(base)
    keys = path.split('.')
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return data


def assert_names_the_field(path: str, value, field: str, fragment: str | None) -> None:
    """``value`` at ``path`` of the minimal config is refused with a problem at ``field`` saying ``fragment``."""
    import pytest

    from aiida_mlip_autopipe.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(with_change(path, value))
    fields = [loc for loc, _, _ in info.value.problems]
    assert field in fields, info.value.format()
    if fragment is not None:
        messages = [msg for loc, _, msg in info.value.problems if loc == field]
        assert any(fragment in msg for msg in messages), info.value.format()


def instantiate(process_class, **inputs):
    """A process instance whose steps can be called one by one, without running it."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    return instantiate_process(get_manager().get_runner(), process_class, **inputs)


def finished_workflow(
    exit_status: int = 0,
    outputs: dict | None = None,
    process_label: str = 'PwBaseWorkChain',
    exit_message: str | None = None,
    seal: bool = True,
) -> orm.WorkflowNode:
    """A stored workflow node that finished with ``exit_status`` and returned ``outputs``."""
    node = orm.WorkflowNode()
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    if exit_message:
        node.set_exit_message(exit_message)
    node.set_process_label(process_label)
    node.store()
    for label, data in (outputs or {}).items():
        if not data.is_stored:
            data.store()
        data.base.links.add_incoming(node, link_type=LinkType.RETURN, link_label=label)
    if seal:
        node.seal()
    return node


def fake_pw_outputs(structure: orm.StructureData, energy: float = -215.0, forces=None, stress_gpa=None) -> dict:
    """``output_parameters`` and ``output_trajectory`` shaped like those of a finished PwBaseWorkChain."""
    import numpy as np

    atoms = structure.get_ase()
    natoms = len(atoms)
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=atoms.get_chemical_symbols(),
        positions=np.array([atoms.positions]),
        cells=np.array([atoms.cell.array]),
        stepids=np.array([0]),
    )
    trajectory.set_array('forces', np.asarray([np.zeros((natoms, 3)) if forces is None else forces], dtype=float))
    trajectory.set_array('stress', np.asarray([np.zeros((3, 3)) if stress_gpa is None else stress_gpa], dtype=float))
    return {'output_parameters': orm.Dict({'energy': energy}), 'output_trajectory': trajectory}


def finished_calcjob(
    exit_status: int = 0,
    outputs: dict | None = None,
    process_type: str = 'aiida.calculations:core.arithmetic.add',
    exit_message: str | None = None,
    inputs: dict | None = None,
    caller: tuple[orm.WorkflowNode, str] | None = None,
) -> orm.CalcJobNode:
    """A stored CalcJobNode that finished with ``exit_status``, with ``inputs`` linked in and ``outputs`` created.

    ``caller`` is an unsealed workflow node and the link label under which it called this one.
    """
    from aiida.common.links import LinkType as _LinkType

    node = orm.CalcJobNode()
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    node.set_process_type(process_type)
    if exit_message:
        node.set_exit_message(exit_message)
    for label, data in (inputs or {}).items():
        if not data.is_stored:
            data.store()
        node.base.links.add_incoming(data, link_type=_LinkType.INPUT_CALC, link_label=label)
    if caller is not None:
        node.base.links.add_incoming(caller[0], link_type=_LinkType.CALL_CALC, link_label=caller[1])
    node.store()
    for label, data in (outputs or {}).items():
        data.base.links.add_incoming(node, link_type=_LinkType.CREATE, link_label=label)
        data.store()
    node.seal()
    return node
