"""``LammpsBaseWorkChain``: one exploration MD, where a blow-up or a halt is a result and not a failure.

Built like aiida-quantumespresso's ``PwBaseWorkChain`` (``BaseRestartWorkChain``, process
handlers, ``protocols/lammps_base.yaml``, ``get_builder_from_protocol``), with what exploration
needs:

- **halt on gamma** (``fix halt``, exit 0): the potential extrapolates, which is what the MD
  looks for; the work chain finishes ok with ``summary.halted``.
- **blow-up** (401: lost atoms, non-numeric coordinates...): the dynamics left the region the
  potential knows. That too is a result (uncertainty), not a failure to retry: the work chain
  finishes ok with the outputs up to the blow-up (``summary.blow_up``) and says so.
- **wall-time limit** (403 from the parser, 120 from a scheduler): the partial trajectory is
  accepted with ``summary.walltime_reached`` (and ``completed: False``). Restarting from the
  last written frame is not done: only uncertain frames are dumped (the last one can be far
  from the end, or absent), the velocities are not written, and the gamma samples before the
  limit are valid as they are; a restarted MD would be a different trajectory, not the rest
  of this one.
- **anything else** (a LAMMPS error, an input the program refuses, gamma always zero, missing
  or unreadable output): ``ERROR_UNRECOVERABLE_FAILURE`` naming the calculation and its message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlip_autopipe.common.restart import StageRestartMixin, protocol_inputs
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation

__all__ = ('LammpsBaseWorkChain',)


class LammpsBaseWorkChain(ProtocolMixin, StageRestartMixin, BaseRestartWorkChain):
    """An exploration MD whose blow-ups and halts are results, and whose wall-time limit keeps the partial run."""

    _process_class = LammpsCalculation

    @classmethod
    def define(cls, spec):
        """Inputs of the calculation in ``lammps``, its outputs, the unrecoverable exit code."""
        super().define(spec)
        spec.expose_inputs(LammpsCalculation, namespace='lammps')
        spec.expose_outputs(LammpsCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        cls.define_unrecoverable(spec, 'LammpsCalculation')

    @classmethod
    def get_protocol_filepath(cls) -> Path:
        """The YAML file with the fast / balanced / stringent presets."""
        return Path(__file__).parent / 'protocols' / 'lammps_base.yaml'

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        potential: AcePotentialData,
        temperature: float,
        protocol: str | None = None,
        overrides: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ):
        """A ready builder for an MD of ``structure`` on ``potential`` at ``temperature`` (K).

        :param overrides: inputs that win over the protocol, nested like the builder
            (e.g. ``{'lammps': {'settings': {'n_steps': 200}}}``).
        :param options: ``metadata.options`` of the calculation (resources, walltime...).
        """
        inputs = protocol_inputs(cls, protocol, overrides, options, 'lammps')
        child = inputs['lammps']
        builder = cls.get_builder()
        builder.lammps.code = code
        builder.lammps.structure = structure
        builder.lammps.potential = potential
        builder.lammps.settings = orm.Dict({'temperature': float(temperature), **child.get('settings', {})})
        builder.lammps.metadata.options = child.get('metadata', {}).get('options', {})
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        return builder

    def setup(self) -> None:
        """The calculation's inputs in the context."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(LammpsCalculation, 'lammps'))

    def _accept(self, node: orm.CalcJobNode, what: str) -> ProcessHandlerReport:
        """Finish ok with the outputs of ``node`` (``results`` attaches them), reporting ``what`` happened."""
        self.ctx.is_finished = True
        self.report(f'{node.process_label}<{node.pk}> {what}')
        return ProcessHandlerReport(True)

    @process_handler(priority=600, exit_codes=LammpsCalculation.exit_codes.ERROR_SIMULATION_UNSTABLE)
    def handle_blow_up(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """A blow-up is a result: keep the outputs up to it, finish ok."""
        summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else {}
        return self._accept(
            node,
            f'blew up at step {summary.get("last_step")} ({summary.get("error")}): a result (the potential is '
            'uncertain there), not retried; outputs up to the blow-up kept (summary.blow_up)',
        )

    @process_handler(
        priority=500,
        exit_codes=[
            LammpsCalculation.exit_codes.ERROR_OUT_OF_WALLTIME,
            LammpsCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME,
        ],
    )
    def handle_out_of_walltime(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """Accept the partial trajectory of a run stopped at its wall-time limit (see the module docstring)."""
        if 'summary' not in node.outputs:
            return self.unrecoverable(node, 'stopped at the wall-time limit before any output')
        summary = node.outputs.summary.get_dict()
        return self._accept(
            node,
            f'reached its wall-time limit at step {summary.get("last_step")} of {summary.get("steps_requested")}: '
            'partial trajectory accepted (summary.walltime_reached, completed False)',
        )
