"""What the stage base work chains (``PacemakerBaseWorkChain``, ``LammpsBaseWorkChain``) share.

Both are ``BaseRestartWorkChain`` subclasses built the way aiida-quantumespresso's
``PwBaseWorkChain`` is: a protocol YAML, ``get_builder_from_protocol``, one process handler per
known failure and a last handler that turns every other failure into
``ERROR_UNRECOVERABLE_FAILURE`` with a message naming the calculation and its own exit message.
"""

from __future__ import annotations

import copy
from typing import Any

from aiida import orm
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

from aiida_mlip_autopipe.common.cleanup import clean_workdir

__all__ = ('StageRestartMixin', 'protocol_inputs')

#: Exit status of ``ERROR_UNRECOVERABLE_FAILURE`` in every stage base work chain.
UNRECOVERABLE = 300


def protocol_inputs(
    process_class: Any, protocol: str | None, overrides: dict | None, options: dict | None, namespace: str
) -> dict[str, Any]:
    """The protocol's inputs merged with ``overrides``; ``options`` go into ``<namespace>.metadata.options``."""
    inputs = process_class.get_protocol_inputs(protocol, copy.deepcopy(overrides) if overrides else None)
    if options:
        child = inputs.setdefault(namespace, {})
        child.setdefault('metadata', {})['options'] = recursive_merge(
            child.get('metadata', {}).get('options', {}), copy.deepcopy(options)
        )
    return inputs


class StageRestartMixin:
    """The catch-all handler (``handle_unrecoverable``), the clean-up that reports, and a report helper."""

    @staticmethod
    def define_unrecoverable(spec: Any, what: str) -> None:
        """Declare ``ERROR_UNRECOVERABLE_FAILURE`` (300) for a work chain that runs ``what``."""
        spec.exit_code(
            UNRECOVERABLE,
            'ERROR_UNRECOVERABLE_FAILURE',
            message=f'{what}<{{pk}}> failed with exit status {{status}} and no handler can fix it: {{message}}',
        )

    def unrecoverable(self, node: orm.CalcJobNode, why: str | None = None) -> ProcessHandlerReport:
        """Stop with ``ERROR_UNRECOVERABLE_FAILURE``, reporting which calculation failed and how."""
        message = node.exit_message or 'no exit message'
        if why:
            message = f'{message} ({why})'
        self.report(f'{node.process_label}<{node.pk}> failed [{node.exit_status}]: {message}; not retried')
        return ProcessHandlerReport(
            True,
            self.exit_codes.ERROR_UNRECOVERABLE_FAILURE.format(pk=node.pk, status=node.exit_status, message=message),
        )

    @process_handler(priority=0)
    def handle_unrecoverable(self, node: orm.CalcJobNode) -> ProcessHandlerReport | None:
        """Any other failure: ``ERROR_UNRECOVERABLE_FAILURE`` with the calculation's own message.

        Priority 0, so every handler of the work chain itself runs first; the same last word for
        every stage base work chain, so it is defined once here.
        """
        if not node.is_failed:
            return None
        return self.unrecoverable(node)

    def on_terminated(self) -> None:
        """Clean the remote folders when ``clean_workdir`` is set, reporting each folder that could not be."""
        super(BaseRestartWorkChain, self).on_terminated()  # not BaseRestartWorkChain's: it drops failures
        clean_workdir(self)
