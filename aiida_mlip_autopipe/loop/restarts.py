"""The loop's fits and MD runs go through their restart work chains, with the inputs the user exposed.

``ActiveLearningWorkChain`` exposes ``PacemakerBaseWorkChain`` as ``training`` and
``LammpsBaseWorkChain`` as ``exploration`` (as ``PwRelaxWorkChain`` exposes ``base``): the code,
the calculation's ``metadata.options``, ``max_iterations``, ``handler_overrides``. What changes per
generation (training set, settings, warm start; start cell, potential, settings) the loop fills in.
Retries are the base work chains' (out of memory, non-finite loss, walltime); the loop only counts
what still failed against its budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiida import orm

__all__ = ('EXPLORATION_EXCLUDED', 'TRAINING_EXCLUDED', 'base_inputs', 'calculation_settings', 'last_calculation')

#: What the loop sets itself in the exposed namespaces.
TRAINING_EXCLUDED = (
    'clean_workdir',
    'pacemaker.training_set',
    'pacemaker.test_set',
    'pacemaker.settings',
    'pacemaker.initial_potential',
    'pacemaker.remote_folder',
)
EXPLORATION_EXCLUDED = (
    'clean_workdir',
    'lammps.structure',
    'lammps.potential',
    'lammps.settings',
    'lammps.remote_folder',
)


def base_inputs(
    exposed: Mapping[str, Any], child: str, calc_inputs: Mapping[str, Any], clean_workdir: orm.Bool | None = None
) -> dict[str, Any]:
    """The inputs of a base work chain: ``exposed`` (the user's namespace) plus one calculation's ``calc_inputs``.

    ``calc_inputs`` are those of the calculation as the loop builds them (``metadata`` holds the
    call link label, which goes on the work chain, and default options); the user's
    ``metadata.options`` win over the loop's defaults.
    """
    exposed = dict(exposed)
    user = dict(exposed.pop(child, {}))
    calc = dict(calc_inputs)
    metadata = dict(calc.pop('metadata', {}))
    options = {**metadata.get('options', {}), **dict(user.get('metadata', {}).get('options', {}))}
    inner = {**{k: v for k, v in user.items() if k != 'metadata'}, **calc}
    inner.pop('code', None)
    inner['code'] = user.get('code', calc_inputs.get('code'))
    inner['metadata'] = {'options': options}
    inputs = {**{k: v for k, v in exposed.items() if k != 'metadata'}, child: inner}
    if 'call_link_label' in metadata:
        inputs['metadata'] = {'call_link_label': metadata['call_link_label']}
    if clean_workdir is not None:
        inputs['clean_workdir'] = clean_workdir
    return inputs


def calculation_settings(node: orm.ProcessNode) -> orm.Dict:
    """The ``settings`` of a fit or MD, given as a base work chain or as the calculation itself."""
    for namespace in ('lammps', 'pacemaker'):
        if namespace in node.inputs:
            return node.inputs[namespace]['settings']
    return node.inputs.settings


def last_calculation(node: orm.ProcessNode) -> orm.ProcessNode:
    """The last calculation a base work chain ran (the node itself if it is a calculation or ran none)."""
    if isinstance(node, orm.CalcJobNode):
        return node
    called = sorted((c for c in node.called if isinstance(c, orm.CalcJobNode)), key=lambda c: c.pk)
    return called[-1] if called else node
