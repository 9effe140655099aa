"""The active-learning loop: generate, screen and select, label, fit, explore, extract, repeat.

Each phase is one step (or one pair of ``run_*``/``inspect_*`` steps) of the outline, so
``verdi process report`` reads like the science and the daemon can be killed between
any two steps without losing a finished calculation. All new data (candidates,
selections, training sets, extracted environments, calibration and validation results)
is made by calcfunctions or by the stage jobs (screening, selection, pool scoring,
calibration, extraction: CalcJobs on the stages' codes, so no model is ever loaded in the
daemon worker); the work chain only decides and launches. The steps of one generation are in
:mod:`~aiida_mlip_autopipe.loop.selecting` and :mod:`~aiida_mlip_autopipe.loop.generation`, the final refit and the
validation after the loop in :mod:`~aiida_mlip_autopipe.loop.refit` and :mod:`~aiida_mlip_autopipe.loop.validating`,
what each child is asked in :mod:`~aiida_mlip_autopipe.loop.children`, the per-generation bookkeeping in
:mod:`~aiida_mlip_autopipe.loop.records`, when to stop in :mod:`~aiida_mlip_autopipe.loop.stop_rules`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import WorkChain, if_, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlip_autopipe.common.cleanup import clean_workdir
from aiida_mlip_autopipe.common.names import PROGRESS_EXTRA
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.exploration.base import LammpsBaseWorkChain
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from aiida_mlip_autopipe.loop import records, stop_rules
from aiida_mlip_autopipe.loop.generation import GenerationSteps
from aiida_mlip_autopipe.loop.protocol import LABELLING_EXCLUDED, builder_from_protocol, validate_config
from aiida_mlip_autopipe.loop.refit import FinalFitSteps
from aiida_mlip_autopipe.loop.restarts import EXPLORATION_EXCLUDED, TRAINING_EXCLUDED
from aiida_mlip_autopipe.loop.selecting import SelectionSteps
from aiida_mlip_autopipe.loop.validating import ValidationSteps
from aiida_mlip_autopipe.training.base import PacemakerBaseWorkChain

__all__ = ('ActiveLearningWorkChain',)


class ActiveLearningWorkChain(
    ProtocolMixin, SelectionSteps, GenerationSteps, FinalFitSteps, ValidationSteps, WorkChain
):
    """Build an ACE potential by active learning on DFT labels, from one validated config."""

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input(
            'config',
            valid_type=orm.Dict,
            validator=validate_config,
            help='The run configuration (MLIPConfig as a dict), validated before the run starts.',
        )
        spec.expose_inputs(
            LabellingWorkChain,
            namespace='labelling',
            exclude=LABELLING_EXCLUDED,
            namespace_options={'help': 'Template of the DFT labelling (PwBaseWorkChain inputs and concurrency).'},
        )
        # As PwRelaxWorkChain exposes ``base``: the code, options and handler settings of the fits and MD
        # runs; the loop fills in what changes per generation (loop.restarts).
        spec.expose_inputs(
            PacemakerBaseWorkChain,
            namespace='training',
            exclude=TRAINING_EXCLUDED,
            namespace_options={'help': 'Inputs of the PacemakerBaseWorkChain of every fit (code, options).'},
        )
        spec.expose_inputs(
            LammpsBaseWorkChain,
            namespace='exploration',
            exclude=EXPLORATION_EXCLUDED,
            namespace_options={'help': 'Inputs of the LammpsBaseWorkChain of every MD run (code, options).'},
        )
        spec.input_namespace(
            'codes',
            help='Codes of the stage jobs: a Python of an environment with this package, on any computer (a GPU '
            'node for a MACE screen, a compute node for SOAP over a large pool).',
        )
        for stage, what in (
            ('screening', 'ScreeningCalculation'),
            ('selection', 'SelectionCalculation'),
            ('uncertainty', 'ScoringCalculation and CalibrationCalculation'),
            ('extraction', 'ExtractionCalculation'),
        ):
            spec.input(f'codes.{stage}', valid_type=orm.AbstractCode, help=f'Runs the {what} jobs.')
        spec.input(
            'screening_model',
            valid_type=(orm.SinglefileData, orm.Str),
            required=False,
            help="Screening model: a MACE model file, or 'chgnet', 'mace_mp:small|medium|large', 'none'. "
            'Default: screening.model of the config.',
        )
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            required=False,
            help='Base cell replacing target.prototype (the content of target.structure_file).',
        )
        spec.input(
            'initial_training_set',
            valid_type=TrainingSetData,
            required=False,
            help='Labels to start from (e.g. the training set of a previous run): they are never recomputed.',
        )
        spec.input(
            'initial_potential',
            valid_type=AcePotentialData,
            required=False,
            help='Potential of a previous run: the first fit warm-starts from it.',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            serializer=orm.to_aiida_type,
            help='Clean the remote folders of all calculations when the run terminates.',
        )
        spec.outline(
            cls.setup,
            cls.generate_initial_candidates,
            while_(cls.should_run_generation)(
                cls.run_screening,
                cls.inspect_screening,
                cls.run_selection,
                cls.inspect_selection,
                if_(cls.has_selection)(
                    cls.run_labelling,
                    cls.inspect_labelling,
                    if_(cls.should_calibrate)(
                        cls.run_calibration,
                        cls.inspect_calibration,
                    ),
                ),
                while_(cls.should_run_training)(
                    cls.run_training,
                    cls.inspect_training,
                ),
                if_(cls.should_evaluate)(
                    cls.run_evaluation,
                    cls.inspect_evaluation,
                ),
                cls.run_exploration,
                cls.inspect_exploration,
                cls.run_extraction,
                cls.inspect_extraction,
            ),
            if_(cls.should_refit)(
                cls.run_final_fit,
                cls.inspect_final_fit,
                if_(cls.should_evaluate_final)(
                    cls.run_final_evaluation,
                    cls.inspect_final_evaluation,
                ),
            ),
            if_(cls.should_validate)(
                cls.run_validation,
                cls.inspect_validation,
            ),
            cls.results,
        )
        spec.output('potential', valid_type=AcePotentialData, help='The potential of the last generation.')
        spec.output('training_set', valid_type=TrainingSetData, help='Every label the final fit used.')
        spec.output(
            'holdout',
            valid_type=TrainingSetData,
            required=False,
            help='The held-out labels: never trained on, every fit was measured on them.',
        )
        spec.output('history', valid_type=orm.Dict, help='Per generation: labels, fit metrics, exploration, timings.')
        spec.output('stop', valid_type=orm.Dict, help='The rule that stopped the run and the numbers behind it.')
        spec.output('validation', valid_type=orm.Dict, required=False, help='Final potential against DFT.')
        spec.output('validation_curves', valid_type=orm.ArrayData, required=False, help='E–V and phonon data.')
        spec.output_namespace(
            'calibration', valid_type=orm.Dict, dynamic=True, help='Gamma calibration per generation.'
        )
        spec.exit_code(
            301, 'ERROR_NO_CANDIDATES', message='Generation {generation} has no candidate left to label: {reason}.'
        )
        spec.exit_code(401, 'ERROR_LABEL_FAILURE_BUDGET_EXCEEDED', message='Failure budget exceeded: {message}.')
        spec.exit_code(
            402,
            'ERROR_SUB_PROCESS_FAILED_LABELLING',
            message='The labelling of generation {generation} failed: {message}.',
        )
        spec.exit_code(403, 'ERROR_FIT_FAILURE_BUDGET_EXCEEDED', message='Failure budget exceeded: {message}.')
        spec.exit_code(404, 'ERROR_MD_FAILURE_BUDGET_EXCEEDED', message='Failure budget exceeded: {message}.')
        spec.exit_code(405, 'ERROR_NO_POTENTIAL', message='No fit succeeded, so there is no potential to explore with.')
        spec.exit_code(406, 'ERROR_SUB_PROCESS_FAILED_STAGE_JOB', message='A stage job failed: {message}.')

    @classmethod
    def get_protocol_filepath(cls) -> Path:
        """The YAML file with the fast / balanced / stringent presets."""
        return Path(__file__).parent / 'protocols' / 'active_learning.yaml'

    @classmethod
    def get_builder_from_protocol(cls, config: Any, codes=None, protocol=None, overrides=None, **kwargs: Any):
        """A ready builder: protocol presets, then the values the config sets, then ``overrides``.

        See :func:`~aiida_mlip_autopipe.loop.protocol.builder_from_protocol` (``codes``,
        ``screening_model``, ``structure``, ``initial_training_set``, ``initial_potential``).
        """
        return builder_from_protocol(cls, config, codes=codes, protocol=protocol, overrides=overrides, **kwargs)

    # ----------------------------------------------------------------------------------
    # Helpers

    @property
    def cfg(self):
        """The validated configuration (parsed once per step; cheap)."""
        from aiida_mlip_autopipe.config import parse_config

        return parse_config(self.inputs.config.get_dict())

    def _record(self) -> dict[str, Any]:
        return self.ctx.history[-1]

    def _new_record(self, generation: int) -> dict[str, Any]:
        return records.new_record(generation, self.ctx.labels_total, self.ctx.holdout_total)

    def _phase(self, name: str) -> None:
        """Mark the phase the run is in, for ``aiida-mlip-autopipe status`` (an extra; no provenance)."""
        self.ctx.phase = name
        self.ctx.phase_started = time.time()
        self.node.base.extras.set(PROGRESS_EXTRA, records.progress(self.ctx, name))

    def _timed(self, key: str, started: float) -> None:
        timings = self._record().setdefault('timings', {})
        timings[key] = round(timings.get(key, 0.0) + time.time() - started, 3)

    def _ended(self) -> bool:
        """A stop rule fired or an error ended the run: the remaining steps of a generation are skipped."""
        return self.ctx.stop is not None or self.ctx.exit_code is not None

    def _stop(self, decision: stop_rules.Decision, exit_code: Any = None) -> None:
        """End the run with ``decision`` (and ``exit_code`` when it ends in an error)."""
        self.ctx.stop = decision.as_dict()
        if exit_code is not None:
            self.ctx.exit_code = exit_code

    def _labelling_inputs(self) -> AttributeDict:
        """The labelling template, with the benchmark oracle of the config (the only way to reach it)."""
        inputs = AttributeDict(self.exposed_inputs(LabellingWorkChain, namespace='labelling'))
        if self.cfg.benchmark.oracle is not None:
            inputs.oracle = orm.Str(self.cfg.benchmark.oracle)
        return inputs

    def _inputs_with_structure(self, **inputs: Any) -> dict[str, Any]:
        """``inputs`` plus the ``structure`` input of the run when one was given."""
        if 'structure' in self.inputs:
            inputs['structure'] = self.inputs.structure
        return inputs

    # ----------------------------------------------------------------------------------
    # Steps

    def setup(self):
        """Initialise the loop state from the config and any previous run."""
        cfg = self.cfg
        self.ctx.generation = 0
        self.ctx.history = []
        self.ctx.stop = None
        self.ctx.failed_fits = 0
        self.ctx.gamma_lower = cfg.exploration.gamma_lower
        self.ctx.training_set = self.inputs.get('initial_training_set')
        self.ctx.potential = self.inputs.get('initial_potential')
        self.ctx.new_potential = None
        self.ctx.candidates = {}
        self.ctx.pool = {}
        self.ctx.screened = {}
        self.ctx.selected = {}
        self.ctx.trajectories = {}
        self.ctx.labels_total = self.ctx.training_set.num_frames if self.ctx.training_set is not None else 0
        self.ctx.holdout = None
        self.ctx.holdout_total = 0
        self.ctx.holdout_new = {}
        self.ctx.final = None
        self.ctx.fit_attempt = 0
        self.ctx.exit_code = None
        self.report(records.setup_line(cfg, self.ctx.labels_total))

    def generate_initial_candidates(self):
        """Build the initial candidate pool (bulk/SQS, strain, rattle, defects) with a calcfunction."""
        from aiida_mlip_autopipe.candidates.functions import generate_candidates

        started = time.time()
        self.ctx.history.append(self._new_record(0))
        self._phase('generation')
        inputs = self._inputs_with_structure(
            config=self.inputs.config, seed=orm.Int(self.cfg.seed), generation=orm.Int(0)
        )
        outputs = generate_candidates(**inputs, metadata={'call_link_label': 'generate_gen00'})
        self.ctx.candidates = dict(outputs['structures'])
        counts = outputs['metadata'].get('counts_by_origin', {})
        self._record()['candidates'] = len(self.ctx.candidates)
        self._timed('generation', started)
        self.report(f'generation 0: {len(self.ctx.candidates)} candidates ({counts})')

    def should_run_generation(self):
        """Whether no stop rule has fired and no error ended the run."""
        return not self._ended()

    def results(self):
        """Attach the final potential, training set, history and the reason the run stopped."""
        from aiida_mlip_autopipe.loop.summary import summarise_run

        self._phase('finished')
        if self.ctx.potential is not None:
            self.out('potential', self.ctx.potential)
        if self.ctx.training_set is not None:
            self.out('training_set', self.ctx.training_set)
        if self.ctx.holdout is not None:
            self.out('holdout', self.ctx.holdout)
        stop = self.ctx.stop or {'rule': 'none', 'message': 'the loop ended without a stop rule'}
        summary = summarise_run(
            history=orm.Dict({'generations': self.ctx.history, 'final_fit': self.ctx.final}),
            stop=self._stop_node(stop),
            metadata={'call_link_label': 'summarise_run'},
        )
        self.out('history', summary['history'])
        self.out('stop', summary['stop'])
        self.report(f'finished: {stop["rule"]}: {stop["message"]}')
        if self.ctx.exit_code is not None:
            return self.ctx.exit_code
        return None

    def _stop_node(self, stop: dict) -> orm.Dict:
        """decide_stop's output when it is the decision that ended the run, else the decision as a new node."""
        node = self.ctx.get('stop_node')
        if node is not None and node.get('rule') == stop.get('rule'):
            return node
        return orm.Dict(stop)

    def on_terminated(self):
        """Clean the remote folders of the calculations if ``clean_workdir`` is set."""
        super().on_terminated()
        clean_workdir(self)
