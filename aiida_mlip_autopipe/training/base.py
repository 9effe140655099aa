"""``PacemakerBaseWorkChain``: run a ``PacemakerCalculation`` and recover from the failures a fit can recover from.

Built like aiida-quantumespresso's ``PwBaseWorkChain``: ``BaseRestartWorkChain`` with one
``process_handler`` per known failure, a protocol file (``protocols/pacemaker_base.yaml``) and
``get_builder_from_protocol``. What each failure gets:

- **out of memory** (parser 400, scheduler 110): ``batch_size`` is halved and the fit restarted;
  at ``batch_size`` 1 there is nothing left to halve: ``ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE``.
- **non-finite loss** (401): a new seed and ten times the L2 regularisation; once L2 reached
  its ceiling (1, the largest ``TrainingConfig`` accepts): ``ERROR_NONFINITE_LOSS``.
- **wall-time limit** (parser 405, scheduler 120): the fit restarts from the interim potential
  the stopped one left (``interim_potential`` output, as ``initial_potential``) with the
  iterations it still had; without one: ``ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL``.
- **stopped from outside** (403, e.g. a kill): restarted once from its interim potential if
  there is one; otherwise, or the second time, unrecoverable.
- **anything else** (a rejected data set, a pacemaker error, a failed conversion or active
  set, missing outputs): ``ERROR_UNRECOVERABLE_FAILURE`` naming the calculation and its message.

Every decision is a line of ``verdi process report`` that says what failed and what was done.
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
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

__all__ = ('PacemakerBaseWorkChain',)


class PacemakerBaseWorkChain(ProtocolMixin, StageRestartMixin, BaseRestartWorkChain):
    """A pacemaker fit that halves the batch on out-of-memory, regularises a diverged loss, resumes at walltime."""

    _process_class = PacemakerCalculation

    #: Tuning of the handlers.
    defaults = AttributeDict(
        {
            'l2_factor': 10.0,  # a diverged fit gets this much more L2 regularisation
            'l2_start': 1e-6,  # ... or this much when it had none
            'l2_max': 1.0,  # the largest L2 TrainingConfig accepts
            'seed_step': 1,  # the new seed after a divergence: seed + seed_step (mod 2**32)
            'interrupted_restarts': 1,  # restarts of a fit stopped from outside (403)
        }
    )

    @classmethod
    def define(cls, spec):
        """Inputs of the calculation in ``pacemaker``, its outputs, the handlers' exit codes."""
        super().define(spec)
        spec.expose_inputs(PacemakerCalculation, namespace='pacemaker')
        spec.expose_outputs(PacemakerCalculation, exclude=('interim_potential',))
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        cls.define_unrecoverable(spec, 'PacemakerCalculation')
        spec.exit_code(
            310,
            'ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE',
            message='PacemakerCalculation<{pk}> ran out of memory with batch_size 1: ask for more memory '
            '(metadata.options) or fit fewer or smaller structures.',
        )
        spec.exit_code(
            311,
            'ERROR_NONFINITE_LOSS',
            message='PacemakerCalculation<{pk}> diverged (non-finite loss) with L2 regularisation {l2}, the most '
            'allowed: look for outliers in the training set (energies, forces).',
        )
        spec.exit_code(
            312,
            'ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL',
            message='PacemakerCalculation<{pk}> reached its wall-time limit before pacemaker saved an interim '
            'potential: raise max_wallclock_seconds (metadata.options).',
        )

    @classmethod
    def get_protocol_filepath(cls) -> Path:
        """The YAML file with the fast / balanced / stringent presets."""
        return Path(__file__).parent / 'protocols' / 'pacemaker_base.yaml'

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        training_set: TrainingSetData,
        protocol: str | None = None,
        overrides: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        test_set: TrainingSetData | None = None,
        initial_potential: AcePotentialData | None = None,
    ):
        """A ready builder for fitting ``training_set`` with ``code``.

        :param overrides: inputs that win over the protocol, nested like the builder
            (e.g. ``{'pacemaker': {'settings': {'maxiter': 50}}}``).
        :param options: ``metadata.options`` of the calculation (resources, walltime...).
        """
        inputs = protocol_inputs(cls, protocol, overrides, options, 'pacemaker')
        child = inputs['pacemaker']
        builder = cls.get_builder()
        builder.pacemaker.code = code
        builder.pacemaker.training_set = training_set
        builder.pacemaker.settings = orm.Dict(child.get('settings', {}))
        builder.pacemaker.metadata.options = child.get('metadata', {}).get('options', {})
        if test_set is not None:
            builder.pacemaker.test_set = test_set
        if initial_potential is not None:
            builder.pacemaker.initial_potential = initial_potential
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        return builder

    def setup(self) -> None:
        """The calculation's inputs in the context; ``settings`` as a plain dict the handlers change."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(PacemakerCalculation, 'pacemaker'))
        self.ctx.inputs.settings = self.ctx.inputs.settings.get_dict()
        self.ctx.interrupted_restarts = 0

    def _config(self) -> Any:
        """The ``TrainingConfig`` the next fit runs with (defaults filled in)."""
        from aiida_mlip_autopipe.training.config import TrainingConfig

        return TrainingConfig.model_validate(self.ctx.inputs.settings)

    def _restart_from_interim(self, node: orm.CalcJobNode, why: str) -> None:
        """Make the next fit start from the interim potential of ``node`` with the iterations left."""
        config = self._config()
        interim = node.outputs.interim_potential
        done = node.outputs.metrics.get('iterations') if 'metrics' in node.outputs else None
        left = max(1, config.maxiter - int(done or 0))
        self.ctx.inputs.initial_potential = interim
        self.ctx.inputs.settings = {**self.ctx.inputs.settings, 'warm_start': True, 'maxiter': left}
        self.report(
            f'{node.process_label}<{node.pk}> {why} after {done} iterations: restarting from its interim potential '
            f'AcePotentialData<{interim.pk}> with maxiter {left}'
        )

    @process_handler(
        priority=600,
        exit_codes=[
            PacemakerCalculation.exit_codes.ERROR_OUT_OF_MEMORY,
            PacemakerCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_MEMORY,
        ],
    )
    def handle_out_of_memory(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """Halve ``batch_size``; at 1 stop with ``ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE``."""
        batch = self._config().batch_size
        if batch <= 1:
            self.report(f'{node.process_label}<{node.pk}> ran out of memory with batch_size 1: nothing left to halve')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE.format(pk=node.pk))
        smaller = max(1, batch // 2)
        self.ctx.inputs.settings = {**self.ctx.inputs.settings, 'batch_size': smaller}
        self.report(
            f'{node.process_label}<{node.pk}> ran out of memory with batch_size {batch}: restarting with '
            f'batch_size {smaller}'
        )
        return ProcessHandlerReport(True)

    @process_handler(priority=500, exit_codes=PacemakerCalculation.exit_codes.ERROR_NAN_LOSS)
    def handle_nonfinite_loss(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """A new seed and ``l2_factor`` × the L2 regularisation; at ``l2_max`` stop with ``ERROR_NONFINITE_LOSS``."""
        config = self._config()
        l2 = config.l2_regularization
        if l2 >= self.defaults.l2_max:
            self.report(f'{node.process_label}<{node.pk}> diverged with L2 {l2:g}, the most allowed')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NONFINITE_LOSS.format(pk=node.pk, l2=l2))
        stronger = min(self.defaults.l2_max, l2 * self.defaults.l2_factor if l2 > 0 else self.defaults.l2_start)
        seed = (config.seed + self.defaults.seed_step) % 2**32
        self.ctx.inputs.settings = {**self.ctx.inputs.settings, 'l2_regularization': stronger, 'seed': seed}
        self.report(
            f'{node.process_label}<{node.pk}> diverged (non-finite loss): restarting with seed {seed} (was '
            f'{config.seed}) and L2 regularisation {stronger:g} (was {l2:g})'
        )
        return ProcessHandlerReport(True)

    @process_handler(
        priority=400,
        exit_codes=[
            PacemakerCalculation.exit_codes.ERROR_OUT_OF_WALLTIME,
            PacemakerCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME,
        ],
    )
    def handle_out_of_walltime(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """Restart from the interim potential; without one stop with ``ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL``."""
        if 'interim_potential' not in node.outputs:
            self.report(f'{node.process_label}<{node.pk}> reached its wall-time limit before any interim potential')
            return ProcessHandlerReport(
                True, self.exit_codes.ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL.format(pk=node.pk)
            )
        self._restart_from_interim(node, 'reached its wall-time limit')
        return ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=PacemakerCalculation.exit_codes.ERROR_PACEMAKER_INTERRUPTED)
    def handle_interrupted(self, node: orm.CalcJobNode) -> ProcessHandlerReport:
        """Restart once from the interim potential of a fit stopped from outside; otherwise unrecoverable."""
        if 'interim_potential' not in node.outputs:
            return self.unrecoverable(node, 'stopped from outside before any interim potential was saved')
        if self.ctx.interrupted_restarts >= self.defaults.interrupted_restarts:
            return self.unrecoverable(node, f'stopped from outside again after {self.ctx.interrupted_restarts} restart')
        self.ctx.interrupted_restarts += 1
        self._restart_from_interim(node, 'was stopped from outside')
        return ProcessHandlerReport(True)
