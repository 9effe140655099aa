"""The active-learning loop: generate, screen and select, label, fit, explore, extract, repeat.

Each phase is one step (or one pair of ``run_*``/``inspect_*`` steps) of the outline, so
``verdi process report`` reads like the science and the daemon can be killed between
any two steps without losing a finished calculation. All new data (candidates,
selections, training sets, extracted environments, calibration and validation results)
is made by calcfunctions; the work chain only decides and launches.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_
from aiida.plugins import CalculationFactory
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin, recursive_merge

from aiida_mlip_autopipe.common.cleanup import clean_workdir
from aiida_mlip_autopipe.common.names import PROGRESS_EXTRA
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.exploration.starts import build_md_structures
from aiida_mlip_autopipe.labelling.training_set import merge_training_sets
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from aiida_mlip_autopipe.uncertainty.calibration import calibrate_gamma
from aiida_mlip_autopipe.validation.functions import analyse_validation, validation_structures
from aiida_mlip_autopipe.workflows import stop_rules

__all__ = ('ActiveLearningWorkChain',)


def _validate_config(value, _):
    from aiida_mlip_autopipe.config import ConfigError, parse_config

    try:
        parse_config(value.get_dict())
    except ConfigError as exc:
        return exc.format()
    return None


class ActiveLearningWorkChain(ProtocolMixin, WorkChain):
    """Build an ACE potential by active learning on DFT labels, from one validated config."""

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input(
            'config',
            valid_type=orm.Dict,
            validator=_validate_config,
            help='The run configuration (MLIPConfig as a dict), validated before the run starts.',
        )
        spec.expose_inputs(
            LabellingWorkChain,
            namespace='labelling',
            exclude=('structures', 'failure_budget', 'clean_workdir'),
            namespace_options={'help': 'Template of the DFT labelling (PwBaseWorkChain inputs and concurrency).'},
        )
        spec.input('pacemaker_code', valid_type=orm.AbstractCode, help='Code of the pacemaker plugin.')
        spec.input('lammps_code', valid_type=orm.AbstractCode, help='Code of the LAMMPS plugin.')
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
                cls.screen_and_select,
                if_(cls.has_selection)(
                    cls.run_labelling,
                    cls.inspect_labelling,
                ),
                while_(cls.should_run_training)(
                    cls.run_training,
                    cls.inspect_training,
                ),
                cls.run_exploration,
                cls.inspect_exploration,
            ),
            if_(cls.should_validate)(
                cls.run_validation,
                cls.inspect_validation,
            ),
            cls.results,
        )
        spec.output('potential', valid_type=AcePotentialData, help='The potential of the last generation.')
        spec.output('training_set', valid_type=TrainingSetData, help='Every label the final fit used.')
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

    # ----------------------------------------------------------------------------------
    # Protocol

    @classmethod
    def get_protocol_filepath(cls) -> Path:
        """The YAML file with the fast / balanced / stringent presets."""
        return Path(__file__).parents[1] / 'protocols' / 'active_learning.yaml'

    @classmethod
    def get_builder_from_protocol(
        cls,
        config: Any,
        codes: dict[str, orm.AbstractCode | str] | None = None,
        protocol: str | None = None,
        overrides: dict[str, Any] | None = None,
        screening_model: orm.SinglefileData | str | None = None,
        structure: orm.StructureData | None = None,
        initial_training_set: TrainingSetData | None = None,
        initial_potential: AcePotentialData | None = None,
        **kwargs: Any,
    ):
        """A ready builder: protocol presets, then the values the config sets, then ``overrides``.

        :param config: an ``MLIPConfig`` (values the user did not write take the protocol's).
        :param codes: ``{'pw': ..., 'pacemaker': ..., 'lammps': ...}``; default: the code labels of the config.
        """
        from aiida_mlip_autopipe.config import MLIPConfig, parse_config
        from aiida_mlip_autopipe.screening.functions import model_input

        if not isinstance(config, MLIPConfig):
            config = parse_config(config)
        inputs = cls.get_protocol_inputs(protocol, None)
        explicit = config.model_dump(mode='json', exclude_unset=True)
        merged = recursive_merge(copy.deepcopy(inputs.get('config', {})), explicit)
        merged = recursive_merge(merged, copy.deepcopy(overrides or {}))
        resolved = parse_config(merged)
        codes = dict(codes or {})
        pw = codes.get('pw', resolved.dft.code)
        pacemaker = codes.get('pacemaker', resolved.training.code)
        lammps = codes.get('lammps', resolved.exploration.code)

        builder = cls.get_builder()
        builder.config = orm.Dict(resolved.to_dict())
        # The labelling template covers every element of the target, so each generation's
        # structures (of any chemistry) share cutoffs and pseudopotentials.
        dummy = {}
        labelling = LabellingWorkChain.get_builder_from_protocol(
            pw, dummy, dft=resolved.dft, elements=list(resolved.target.elements), **kwargs
        )
        builder.labelling = {
            key: value
            for key, value in labelling._inputs(prune=True).items()
            if key not in ('structures', 'failure_budget', 'clean_workdir', 'metadata')
        }
        builder.pacemaker_code = orm.load_code(pacemaker) if isinstance(pacemaker, str) else pacemaker
        builder.lammps_code = orm.load_code(lammps) if isinstance(lammps, str) else lammps
        model = screening_model if screening_model is not None else resolved.screening.model
        builder.screening_model = model if isinstance(model, orm.Data) else model_input(model)
        if structure is not None:
            builder.structure = structure
        elif resolved.target.structure_file is not None:
            from aiida_mlip_autopipe.candidates.structure_file import read_structure_file

            builder.structure = orm.StructureData(ase=read_structure_file(resolved.target.structure_file))
        if initial_training_set is not None:
            builder.initial_training_set = initial_training_set
        if initial_potential is not None:
            builder.initial_potential = initial_potential
        builder.clean_workdir = orm.Bool(inputs.get('clean_workdir', False))
        return builder

    # ----------------------------------------------------------------------------------
    # Helpers

    @property
    def cfg(self):
        """The validated configuration (parsed once per step; cheap)."""
        from aiida_mlip_autopipe.config import parse_config

        return parse_config(self.inputs.config.get_dict())

    def _record(self) -> dict[str, Any]:
        return self.ctx.history[-1]

    def _phase(self, name: str) -> None:
        """Mark the phase the run is in, for ``aiida-mlip-autopipe status`` (an extra; no provenance)."""
        self.ctx.phase = name
        self.ctx.phase_started = time.time()
        self.node.base.extras.set(
            PROGRESS_EXTRA,
            {
                'generation': self.ctx.generation,
                'phase': name,
                'updated': time.time(),
                'history': self.ctx.history,
                'gamma_lower': self.ctx.gamma_lower,
                'stop': self.ctx.stop,
            },
        )

    def _timed(self, key: str, started: float) -> None:
        timings = self._record().setdefault('timings', {})
        timings[key] = round(timings.get(key, 0.0) + time.time() - started, 3)

    @staticmethod
    def _child_seconds(node: orm.ProcessNode) -> float:
        return max(0.0, (node.mtime - node.ctime).total_seconds())

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
        self.ctx.labels_total = self.ctx.training_set.num_frames if self.ctx.training_set is not None else 0
        self.ctx.fit_attempt = 0
        self.ctx.exit_code = None
        self.report(
            f'run {cfg.name!r}: {"-".join(cfg.target.elements)}, up to {cfg.loop.max_generations} generations and '
            f'{cfg.loop.dft_budget} DFT labels'
            + (f'; continuing from {self.ctx.labels_total} labels' if self.ctx.labels_total else '')
        )

    def generate_initial_candidates(self):
        """Build the initial candidate pool (bulk/SQS, strain, rattle, defects) with a calcfunction."""
        from aiida_mlip_autopipe.candidates.functions import generate_candidates

        started = time.time()
        self.ctx.history.append(self._new_record(0))
        self._phase('generation')
        inputs = {'config': self.inputs.config, 'seed': orm.Int(self.cfg.seed), 'generation': orm.Int(0)}
        if 'structure' in self.inputs:
            inputs['structure'] = self.inputs.structure
        outputs = generate_candidates(**inputs, metadata={'call_link_label': 'generate_gen00'})
        self.ctx.candidates = dict(outputs['structures'])
        counts = outputs['metadata'].get('counts_by_origin', {})
        self._record()['candidates'] = len(self.ctx.candidates)
        self._timed('generation', started)
        self.report(f'generation 0: {len(self.ctx.candidates)} candidates ({counts})')

    def _new_record(self, generation: int) -> dict[str, Any]:
        return {
            'generation': generation,
            'candidates': 0,
            'screened_out': 0,
            'selected': 0,
            'labels_tried': 0,
            'labels_failed': 0,
            'labels_total': self.ctx.labels_total,
            'train_frames': 0,
            'md_runs': 0,
            'md_failed': 0,
            'md_halted': 0,
            'new_candidates': 0,
            'timings': {},
        }

    def should_run_generation(self):
        """Whether no stop rule has fired and no error ended the run."""
        return not self._ended()

    def _ended(self) -> bool:
        """A stop rule fired or an error ended the run: the remaining steps of a generation are skipped."""
        return self.ctx.stop is not None or self.ctx.exit_code is not None

    def screen_and_select(self):
        """Screen with the universal model, then pick a diverse batch by FPS, aware of what is labelled."""
        from aiida_mlip_autopipe.screening.functions import screen_candidates, screening_settings
        from aiida_mlip_autopipe.selection.functions import select_candidates, selection_settings

        cfg = self.cfg
        g = self.ctx.generation
        record = self._record()
        self._phase('screening')
        started = time.time()
        remaining = cfg.loop.dft_budget - self.ctx.labels_total
        n_select = max(0, min(self._first_fit_minimum(kept_hint=self.ctx.candidates), remaining))
        self.ctx.selected = {}
        if n_select == 0:
            return
        kept = {}
        if self.ctx.candidates:
            screened = screen_candidates(
                model=self.inputs.screening_model,
                settings=screening_settings(cfg),
                structures=self.ctx.candidates,
                metadata={'call_link_label': f'screen_gen{g:02d}'},
            )
            # Keys carry the generation so that pools of several generations never collide.
            kept = {f'g{g:02d}_{key}': node for key, node in screened.get('structures', {}).items()}
            record['screened_out'] = len(self.ctx.candidates) - len(kept)
            self._timed('screening', started)
            self.report(f'generation {g}: screening kept {len(kept)} of {len(self.ctx.candidates)} candidates')
        kept.update(self._uncertain_from_pool(exclude=set(kept)))
        if not kept:
            self._nothing_to_label()
            return
        started = time.time()
        self._phase('selection')
        inputs = {
            'structures': kept,
            'n': orm.Int(n_select),
            'seed': orm.Int(cfg.seed + g),
            'settings': selection_settings(cfg),
            'metadata': {'call_link_label': f'select_gen{g:02d}'},
        }
        if self.ctx.training_set is not None:
            inputs['labelled'] = self.ctx.training_set
        selected = select_candidates(**inputs)
        self.ctx.selected = dict(selected.get('structures', {}))
        # What was screened but not picked stays in the pool for later generations.
        picked = set(self.ctx.selected)
        self.ctx.pool = {key: node for key, node in {**self.ctx.pool, **kept}.items() if key not in picked}
        record['selected'] = len(self.ctx.selected)
        self._timed('selection', started)
        self.report(f'generation {g}: selected {len(self.ctx.selected)} by farthest point sampling')
        if not self.ctx.selected:
            self._nothing_to_label()

    def _nothing_to_label(self) -> None:
        """After generation 0, an empty selection ends the loop: nothing new is uncertain."""
        g = self.ctx.generation
        if g == 0:
            return
        decision = stop_rules.Decision(
            'no_new_candidates',
            f'generation {g}: nothing left to label (no extracted environment and no pool candidate above '
            f'gamma {self.ctx.gamma_lower:.2f} survived screening and selection)',
        )
        self.ctx.stop = decision.as_dict()
        self.report(f'stopping: {decision.rule}: {decision.message}')

    def _uncertain_from_pool(self, exclude: set[str]) -> dict[str, orm.StructureData]:
        """Unlabelled candidates of earlier generations on which the current potential extrapolates.

        Scored with ``score_uncertainty`` (max gamma under the current potential, above
        ``gamma_lower``); they join this generation's candidates, and farthest point
        sampling picks among all of them.
        """
        from aiida_mlip_autopipe.uncertainty.scoring import score_uncertainty

        cfg = self.cfg
        g = self.ctx.generation
        pool = {key: node for key, node in self.ctx.pool.items() if key not in exclude}
        if not cfg.uncertainty.reuse_pool or self.ctx.potential is None or not pool:
            return {}
        started = time.time()
        scored = score_uncertainty(
            potential=self.ctx.potential,
            settings=orm.Dict({'gamma_threshold': self.ctx.gamma_lower}),
            structures=pool,
            metadata={'call_link_label': f'score_pool_gen{g:02d}'},
        )
        uncertain = dict(scored.get('structures', {}))
        self._record()['pool_uncertain'] = len(uncertain)
        self._timed('screening', started)
        self.report(
            f'generation {g}: {len(uncertain)} of {len(pool)} unlabelled pool candidates have gamma above '
            f'{self.ctx.gamma_lower:.2f} under the current potential'
        )
        return uncertain

    def _first_fit_minimum(self, kept_hint: dict) -> int:
        """``n_select``, raised in the first generation so the first fit can build its active set.

        pace_activeset needs at least as many atomic environments per element as basis
        functions; each pick is counted as a candidate of the pool's mean size.
        """
        cfg = self.cfg
        n = cfg.selection.n_select
        if self.ctx.training_set is not None or not kept_hint:
            return n
        sizes = [len(node.sites) for node in kept_hint.values()]
        smallest = sum(sizes) / len(sizes)
        fraction = min((cfg.target.composition or {}).values() or [1.0])
        # pace_activeset drops force-error outliers before it builds the set: keep a margin.
        needed = 1.5 * cfg.training.functions_per_element / max(1e-9, 1 - cfg.training.test_fraction)
        picks = int(-(-needed // max(1e-9, smallest * fraction)))
        if picks > n:
            self.report(
                f'generation 0: selecting up to {picks} instead of {n} so that the first fit sees at least '
                f'{cfg.training.functions_per_element} environments per element (needed for the active set)'
            )
        return max(n, picks)

    def has_selection(self):
        """Whether there is something to label this generation."""
        return bool(self.ctx.selected)

    def run_labelling(self):
        """Label the selection with pw.x (one PwBaseWorkChain each, bounded concurrency)."""
        g = self.ctx.generation
        self._phase('dft')
        inputs = AttributeDict(self.exposed_inputs(LabellingWorkChain, namespace='labelling'))
        inputs.structures = self.ctx.selected
        inputs.failure_budget = orm.Float(self.cfg.loop.failure_budget.label_fraction)
        inputs.clean_workdir = self.inputs.clean_workdir
        inputs.metadata = {'call_link_label': f'label_gen{g:02d}'}
        node = self.submit(LabellingWorkChain, **inputs)
        self.report(f'generation {g}: launching LabellingWorkChain<{node.pk}> for {len(self.ctx.selected)} structures')
        return ToContext(labelling=node)

    def inspect_labelling(self):
        """Merge the new labels into the training set; calibrate gamma on them; apply the label budget."""
        g = self.ctx.generation
        node = self.ctx.labelling
        record = self._record()
        record['timings']['dft'] = round(self._child_seconds(node), 3)
        record['labels_tried'] = len(self.ctx.selected)
        if 'failures' in node.outputs:
            record['labels_failed'] = node.outputs.failures.get('num_failed', 0)
            record['failures_uuid'] = node.outputs.failures.uuid
        if not node.is_finished_ok:
            if node.exit_status == LabellingWorkChain.exit_codes.ERROR_FAILURE_BUDGET_EXCEEDED.status:
                self.ctx.exit_code = self.exit_codes.ERROR_LABEL_FAILURE_BUDGET_EXCEEDED.format(
                    message=f'generation {g}: {node.exit_message}'
                )
            else:
                self.ctx.exit_code = self.exit_codes.ERROR_SUB_PROCESS_FAILED_LABELLING.format(
                    generation=g, message=node.exit_message or f'exit status {node.exit_status}'
                )
            self.report(str(self.ctx.exit_code.message))
            self.ctx.stop = {'rule': 'error', 'message': self.ctx.exit_code.message}
            return
        new = node.outputs.training_set
        started = time.time()
        if self.ctx.potential is not None and new.num_frames:
            self._calibrate(new)
        if self.ctx.training_set is None:
            self.ctx.training_set = new
        else:
            self.ctx.training_set = merge_training_sets(
                previous=self.ctx.training_set, new=new, metadata={'call_link_label': f'merge_gen{g:02d}'}
            )
        self.ctx.labels_total = self.ctx.training_set.num_frames
        record['labels_total'] = self.ctx.labels_total
        record['training_set_uuid'] = self.ctx.training_set.uuid
        self._timed('merge', started)
        self.report(
            f'generation {g}: {new.num_frames} new labels ({record["labels_failed"]} failed), '
            f'{self.ctx.labels_total} in the training set'
        )

    def _calibrate(self, new: TrainingSetData) -> None:
        """Compare the previous potential's gamma on the new labels with its real force error."""
        cfg = self.cfg
        g = self.ctx.generation
        settings = {
            'gamma_lower': self.ctx.gamma_lower,
            'bounds': list(cfg.uncertainty.bounds),
            'error_target': cfg.uncertainty.error_target,
            'adjust': cfg.uncertainty.calibrate,
        }
        result = calibrate_gamma(
            potential=self.ctx.potential,
            labels=new,
            settings=orm.Dict(settings),
            metadata={'call_link_label': f'calibrate_gen{g:02d}'},
        )
        self.out(f'calibration.gen{g:02d}', result)
        data = result.get_dict()
        self._record()['prediction_force_rmse'] = data.get('force_rmse')
        self._record()['calibration'] = {
            'spearman': data.get('spearman'),
            'measured_threshold': data.get('measured_threshold'),
            'gamma_lower_after': data.get('gamma_lower_after'),
            'uuid': result.uuid,
        }
        rho = data.get('spearman')
        self.report(
            f'generation {g}: previous potential on the new labels: '
            f'force RMSE {data.get("force_rmse") or 0:.1f} meV/Å; '
            f'gamma calibration on {data.get("n_atoms")} atoms: Spearman(gamma, |dF|) = '
            + (f'{rho:.2f}' if rho is not None else 'n/a')
            + f'; error {data["error_target"]} eV/Å reached from gamma '
            + (f'{data["measured_threshold"]:.2f}' if data.get('measured_threshold') is not None else 'never')
            + (
                f'; gamma_lower {self.ctx.gamma_lower:.2f} -> {data["gamma_lower_after"]:.2f}'
                if data['adjusted']
                else ''
            )
        )
        self.ctx.gamma_lower = data['gamma_lower_after']

    def should_run_training(self):
        """Fit until a fit succeeds for this generation (failed fits count against the budget)."""
        if self._ended():
            return False
        return (
            self.ctx.new_potential is None
            and self.ctx.training_set is not None
            and self.ctx.fit_attempt < 1 + (self.cfg.loop.failure_budget.fits)
        )

    def run_training(self):
        """Fit the ACE potential on everything labelled, warm-starting from the previous fit."""
        from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

        cfg = self.cfg
        g = self.ctx.generation
        self._phase('training')
        settings = cfg.training.model_dump(mode='json')
        settings['seed'] = cfg.training.seed + self.ctx.fit_attempt
        inputs = {
            'code': self.inputs.pacemaker_code,
            'training_set': self.ctx.training_set,
            'settings': orm.Dict(settings),
            'metadata': {
                'call_link_label': f'train_gen{g:02d}'
                + (f'_retry{self.ctx.fit_attempt}' if self.ctx.fit_attempt else ''),
                'options': {
                    'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
                    'max_wallclock_seconds': cfg.training.max_wallclock_seconds,
                },
            },
        }
        if cfg.training.warm_start and self.ctx.potential is not None:
            inputs['initial_potential'] = self.ctx.potential
        node = self.submit(PacemakerCalculation, **inputs)
        self.ctx.fit_attempt += 1
        warm = ' (warm start)' if 'initial_potential' in inputs else ''
        self.report(
            f'generation {g}: launching PacemakerCalculation<{node.pk}> on {self.ctx.training_set.num_frames} '
            f'frames{warm}'
        )
        return ToContext(fit=node)

    def inspect_training(self):
        """Keep the potential of a successful fit; count failed fits against the budget."""
        g = self.ctx.generation
        node = self.ctx.fit
        record = self._record()
        record['timings']['training'] = round(record['timings'].get('training', 0.0) + self._child_seconds(node), 3)
        if not node.is_finished_ok:
            self.ctx.failed_fits += 1
            record.setdefault('fit_failures', []).append(
                {'pk': node.pk, 'exit_status': node.exit_status, 'message': node.exit_message}
            )
            self.report(
                f'generation {g}: PacemakerCalculation<{node.pk}> failed [{node.exit_status}] {node.exit_message}'
            )
            if node.exit_status not in _RETRYABLE_FIT_FAILURES:
                # Same data, same failure: do not retry; explore with the previous potential if there is one.
                self.ctx.fit_attempt = 1 + self.cfg.loop.failure_budget.fits
            budget = self.cfg.loop.failure_budget.fits
            if self.ctx.failed_fits > budget:
                decision = stop_rules.Decision(
                    'fit_failure_budget', f'{self.ctx.failed_fits} fits failed, above the budget of {budget}'
                )
                self.ctx.exit_code = self.exit_codes.ERROR_FIT_FAILURE_BUDGET_EXCEEDED.format(message=decision.message)
                self.ctx.stop = decision.as_dict()
            return
        self.ctx.new_potential = node.outputs.potential
        metrics = node.outputs.metrics.get_dict()
        record['train_frames'] = self.ctx.training_set.num_frames
        for key in ('train_force_rmse', 'test_force_rmse', 'train_energy_rmse', 'test_energy_rmse'):
            if key in metrics:
                record[key] = metrics[key]
        record['potential_uuid'] = self.ctx.new_potential.uuid
        record['fit_pk'] = node.pk
        self.report(
            f'generation {g}: fit done: RMSE E {metrics.get("train_energy_rmse", float("nan")):.1f} meV/atom, '
            f'F {metrics.get("train_force_rmse", float("nan")):.1f} meV/Å (train)'
            + (
                f', F {metrics["test_force_rmse"]:.1f} meV/Å (test)'
                if metrics.get('test_force_rmse') is not None
                else ''
            )
        )

    def run_exploration(self):
        """MD at every configured temperature (and pressure) on the new potential, gamma monitored."""
        from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation

        if self._ended():
            return None
        if self.ctx.new_potential is not None:
            self.ctx.potential = self.ctx.new_potential
            self.ctx.new_potential = None
            self.ctx.fit_attempt = 0
        if self.ctx.potential is None:
            self.ctx.exit_code = self.exit_codes.ERROR_NO_POTENTIAL
            self.ctx.stop = {'rule': 'error', 'message': self.ctx.exit_code.message}
            return None
        cfg = self.cfg
        g = self.ctx.generation
        self._phase('md')
        started = time.time()
        inputs = {'config': self.inputs.config, 'seed': orm.Int(cfg.seed + 100 * g)}
        if 'structure' in self.inputs:
            inputs['structure'] = self.inputs.structure
        starts = build_md_structures(**inputs, metadata={'call_link_label': f'md_start_gen{g:02d}'})['structures']
        self._timed('md_setup', started)
        ex = cfg.exploration
        pressures = ex.pressures if ex.ensemble == 'npt' else [None]
        launched = {}
        i = 0
        for temperature in ex.temperatures:
            for pressure in pressures:
                for key in sorted(starts):
                    settings = self._md_settings(temperature, pressure, seed=cfg.seed + 1000 * g + i)
                    label = f'md_gen{g:02d}_T{int(temperature)}' + (
                        f'_P{int(pressure)}' if pressure is not None else ''
                    )
                    label += f'_{key}'
                    node = self.submit(
                        LammpsCalculation,
                        code=self.inputs.lammps_code,
                        structure=starts[key],
                        potential=self.ctx.potential,
                        settings=orm.Dict(settings),
                        metadata={
                            'call_link_label': label,
                            'options': {
                                'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
                                'max_wallclock_seconds': ex.max_wallclock_seconds,
                            },
                        },
                    )
                    launched[label] = node
                    i += 1
        self.report(
            f'generation {g}: launching {len(launched)} LammpsCalculations (gamma dump > {self.ctx.gamma_lower:.2f})'
        )
        self.ctx.md_labels = list(launched)
        return ToContext(**{f'md_{k}': v for k, v in launched.items()})

    def _md_settings(self, temperature: float, pressure: float | None, seed: int) -> dict[str, Any]:
        cfg = self.cfg
        settings = cfg.exploration.md_settings(
            temperature, seed, pressure=pressure, stable_fraction=cfg.loop.stable_fraction
        )
        # The dump threshold follows the gamma calibration of earlier generations.
        settings['gamma_lower'] = min(self.ctx.gamma_lower, 0.999 * settings['gamma_upper'])
        return settings

    def inspect_exploration(self):
        """Gather the MD results, extract uncertain environments, apply budgets and stop rules."""
        from aiida_mlip_autopipe.exploration.functions import extract_uncertain_environments

        if self._ended():
            return
        cfg = self.cfg
        g = self.ctx.generation
        record = self._record()
        labels = self.ctx.get('md_labels', [])
        steps_total = 0
        uncertain_steps = 0.0
        max_gamma = 0.0
        trajectories = {}
        md_seconds = 0.0
        for i, label in enumerate(labels):
            node = self.ctx[f'md_{label}']
            md_seconds += self._child_seconds(node)
            summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else {}
            blow_up = node.exit_status in _blow_up_statuses() or bool(summary.get('blow_up'))
            if not node.is_finished_ok and not blow_up:
                record['md_failed'] += 1
                self.report(
                    f'generation {g}: LammpsCalculation<{node.pk}> failed [{node.exit_status}] {node.exit_message}'
                )
                continue
            record['md_runs'] += 1
            if blow_up or summary.get('halted'):
                record['md_halted'] += 1
            steps = int(summary.get('steps_run') or 0)
            steps_total += steps
            # A run that halted or blew up counts its remaining steps as uncertain: it never got there.
            planned = int(node.inputs.settings.get('n_steps', steps))
            uncertain_steps += float(summary.get('fraction_above_lower') or 0.0) * steps + max(0, planned - steps) * (
                1 if (blow_up or summary.get('halted')) else 0
            )
            if blow_up or summary.get('halted'):
                steps_total += max(0, planned - steps)
            max_gamma = max(max_gamma, float(summary.get('max_gamma') or 0.0))
            if 'uncertain_frames' in node.outputs:
                trajectories[f'md_{i:03d}'] = node.outputs.uncertain_frames
        record['md_runs'] += record['md_failed']
        record['timings']['md'] = round(md_seconds, 3)
        record['uncertain_fraction'] = uncertain_steps / steps_total if steps_total else None
        record['max_gamma'] = max_gamma
        record['gamma_lower'] = self.ctx.gamma_lower
        budget = cfg.loop.failure_budget.model_dump()
        decision = stop_rules.budget_exceeded(record, self.ctx.failed_fits, budget)
        if decision is not None:
            self.ctx.exit_code = self.exit_codes.ERROR_MD_FAILURE_BUDGET_EXCEEDED.format(message=decision.message)
            self.ctx.stop = decision.as_dict()
            self.report(decision.message)
            return
        self.report(
            f'generation {g}: {record["md_runs"]} MD runs, {record["md_halted"]} halted, max gamma {max_gamma:.2f}, '
            f'{(record["uncertain_fraction"] or 0.0):.1%} of {steps_total} MD steps above '
            f'gamma {self.ctx.gamma_lower:.2f}'
        )
        started = time.time()
        self._phase('extraction')
        new_candidates = {}
        if trajectories:
            extraction = cfg.exploration.extraction.settings(
                cfg.training.cutoff, self.ctx.gamma_lower, cfg.training.buffer_force_weight, g + 1
            )
            outputs = extract_uncertain_environments(
                settings=orm.Dict(extraction),
                seed=orm.Int(cfg.seed + g),
                potential=self.ctx.potential,
                **trajectories,
                metadata={'call_link_label': f'extract_gen{g:02d}'},
            )
            new_candidates = {key: node for key, node in outputs.items() if key.startswith('candidate_')}
        record['new_candidates'] = len(new_candidates)
        record['pool_remaining'] = len(self.ctx.pool) if cfg.uncertainty.reuse_pool else 0
        self._timed('extraction', started)
        self.report(f'generation {g}: {len(new_candidates)} uncertain environments extracted as candidates')
        decision = stop_rules.evaluate_stop_rules(self.ctx.history, cfg.loop.model_dump())
        if decision is not None:
            self.ctx.stop = decision.as_dict()
            self.report(f'stopping: {decision.rule}: {decision.message}')
            self._phase('stopping')
            return
        self.ctx.generation += 1
        self.ctx.candidates = new_candidates
        self.ctx.history.append(self._new_record(self.ctx.generation))
        self._record()['candidates'] = len(new_candidates)

    def should_validate(self):
        """Validate the final potential when the loop ended normally and validation is on."""
        return self.ctx.exit_code is None and self.ctx.potential is not None and self.cfg.validation.enabled

    def run_validation(self):
        """Label E–V points (and small phonon supercells) with DFT; run a stability MD at the top temperature."""
        from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation

        cfg = self.cfg
        self._phase('validation')
        inputs = {'config': self.inputs.config}
        if 'structure' in self.inputs:
            inputs['structure'] = self.inputs.structure
        cells = validation_structures(**inputs, metadata={'call_link_label': 'validation_structures'})
        self.ctx.validation_cells = cells['cells']
        labelling = AttributeDict(self.exposed_inputs(LabellingWorkChain, namespace='labelling'))
        labelling.structures = dict(cells['structures'])
        labelling.failure_budget = orm.Float(1.0)
        labelling.clean_workdir = self.inputs.clean_workdir
        labelling.metadata = {'call_link_label': 'label_validation'}
        dft = self.submit(LabellingWorkChain, **labelling)
        starts = build_md_structures(
            config=self.inputs.config,
            seed=orm.Int(cfg.seed + 99),
            **({'structure': self.inputs.structure} if 'structure' in self.inputs else {}),
            metadata={'call_link_label': 'md_start_validation'},
        )['structures']
        ex = cfg.exploration.model_copy(
            update={
                'n_steps': cfg.validation.md_steps,
                'dump_interval': min(cfg.exploration.dump_interval, cfg.validation.md_steps),
            }
        )
        settings = ex.md_settings(max(ex.temperatures), cfg.seed + 4242)
        md = self.submit(
            LammpsCalculation,
            code=self.inputs.lammps_code,
            structure=starts[sorted(starts)[0]],
            potential=self.ctx.potential,
            settings=orm.Dict(settings),
            metadata={
                'call_link_label': 'md_validation',
                'options': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}},
            },
        )
        self.report(
            f'validation: LabellingWorkChain<{dft.pk}> for {len(labelling.structures)} cells, '
            f'stability LammpsCalculation<{md.pk}> at {settings["temperature"]:.0f} K'
        )
        return ToContext(validation_dft=dft, validation_md=md)

    def inspect_validation(self):
        """Compare the potential with DFT on the validation cells."""
        inputs = {'potential': self.ctx.potential, 'cells': self.ctx.validation_cells}
        dft = self.ctx.validation_dft
        if dft.is_finished_ok:
            inputs['dft_labels'] = dft.outputs.training_set
        else:
            self.report(f'validation: LabellingWorkChain<{dft.pk}> failed [{dft.exit_status}]; comparing without DFT')
        md = self.ctx.validation_md
        if 'summary' in md.outputs:
            inputs['md_summary'] = md.outputs.summary
        result = analyse_validation(**inputs, metadata={'call_link_label': 'analyse_validation'})
        self.out('validation', result['validation'])
        self.out('validation_curves', result['curves'])
        data = result['validation'].get_dict()
        ev = data.get('ev', {})
        lines = []
        if 'dft' in ev:
            lines.append(
                f'V0 ACE {ev["ace"]["v0"]:.3f} / DFT {ev["dft"]["v0"]:.3f} Å³/atom, '
                f'B ACE {ev["ace"]["bulk_modulus"]:.0f} / DFT {ev["dft"]["bulk_modulus"]:.0f} GPa'
            )
        if 'phonons' in data:
            ph = data['phonons']
            lines.append(
                f'phonons: lowest {ph["lowest_thz"]:.2f} THz, imaginary at {ph["imaginary_at"] or "none"}'
                + (f', MAE vs DFT {ph["mae_thz"]:.2f} THz' if 'mae_thz' in ph else '')
            )
        if 'md' in data:
            lines.append(
                f'stability MD at {data["md"]["temperature"]} K: {"stable" if data["md"]["stable"] else "UNSTABLE"}'
            )
        self.report('validation: ' + '; '.join(lines))

    def results(self):
        """Attach the final potential, training set, history and the reason the run stopped."""
        self._phase('finished')
        if self.ctx.potential is not None:
            self.out('potential', self.ctx.potential)
        if self.ctx.training_set is not None:
            self.out('training_set', self.ctx.training_set)
        from aiida_mlip_autopipe.calculations.functions.summary import summarise_run

        stop = self.ctx.stop or {'rule': 'none', 'message': 'the loop ended without a stop rule'}
        summary = summarise_run(
            history=orm.Dict({'generations': self.ctx.history}),
            stop=orm.Dict(stop),
            metadata={'call_link_label': 'summarise_run'},
        )
        self.out('history', summary['history'])
        self.out('stop', summary['stop'])
        self.report(f'finished: {stop["rule"]}: {stop["message"]}')
        if self.ctx.exit_code is not None:
            return self.ctx.exit_code
        return None

    def on_terminated(self):
        """Clean the remote folders of the calculations if ``clean_workdir`` is set."""
        super().on_terminated()
        clean_workdir(self)


#: PacemakerCalculation exit statuses worth a second fit with another seed (out of memory,
#: non-finite loss, interrupted, other crash); data problems and a missing active set repeat.
_RETRYABLE_FIT_FAILURES = {400, 401, 403, 404}


def _blow_up_statuses() -> set[int]:
    """Exit statuses of LammpsCalculation that mean the MD blew up (uncertainty, not an error)."""
    calc = CalculationFactory('mlip_autopipe.lammps')
    return {code.status for name, code in calc.exit_codes.items() if 'BLOW' in name or 'UNSTABLE' in name}
