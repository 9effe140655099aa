"""The second half of a generation of ``ActiveLearningWorkChain``: label, calibrate, fit, explore, extract.

With :mod:`~aiida_mlip_autopipe.loop.selecting` they are the body of the outline's
``while_(should_run_generation)`` loop, kept in mixins so that
:mod:`~aiida_mlip_autopipe.loop.workchain` holds the outline, the inputs, outputs and exit
codes and the steps around the loop. The mixin is not a process: it relies on the work
chain's ``cfg``, ``_record``, ``_new_record``, ``_phase``, ``_timed``, ``_ended``, ``_stop``,
``_job_failed`` and ``_inputs_with_structure``, and on its exit codes.
"""

from __future__ import annotations

import time

from aiida import orm
from aiida.engine import ToContext

from aiida_mlip_autopipe.common.stage_job import output_structures
from aiida_mlip_autopipe.exploration.starts import build_md_structures
from aiida_mlip_autopipe.labelling.training_set import merge_training_sets
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from aiida_mlip_autopipe.loop import children, records, restarts, stop_rules
from aiida_mlip_autopipe.loop.decisions import decide_stop, md_settings_with_threshold, threshold_node

__all__ = ('GenerationSteps',)


class GenerationSteps:
    """Label (and calibrate gamma), fit (with retries), explore and extract."""

    def run_labelling(self):
        """Label the selection with pw.x (one PwBaseWorkChain each, bounded concurrency)."""
        g = self.ctx.generation
        self._phase('dft')
        from aiida_mlip_autopipe.loop.holdout import PREFIX

        inputs = self._labelling_inputs()
        inputs.structures = {**self.ctx.selected, **{PREFIX + k: v for k, v in self.ctx.holdout_new.items()}}
        inputs.failure_budget = orm.Float(self.cfg.loop.failure_budget.label_fraction)
        inputs.clean_workdir = self.inputs.clean_workdir
        inputs.metadata = {'call_link_label': f'label_gen{g:02d}'}
        node = self.submit(LabellingWorkChain, **inputs)
        self.report(
            f'generation {g}: launching LabellingWorkChain<{node.pk}> for {len(self.ctx.selected)} structures'
            + (f' and {len(self.ctx.holdout_new)} held-out ones' if self.ctx.holdout_new else '')
        )
        return ToContext(labelling=node)

    def inspect_labelling(self):
        """Merge the new labels into the training set; apply the label budget."""
        g = self.ctx.generation
        node = self.ctx.labelling
        record = self._record()
        records.record_labelling(record, node, len(self.ctx.selected) + len(self.ctx.holdout_new))
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
        if self.ctx.holdout_new:
            from aiida_mlip_autopipe.loop.holdout import split_labels

            split = split_labels(
                labels=new,
                holdout=orm.List([n.uuid for n in self.ctx.holdout_new.values()]),
                metadata={'call_link_label': f'split_gen{g:02d}'},
            )
            new, held = split['training'], split['holdout']
            self._add_holdout(held)
        self.ctx.new_labels = new
        started = time.time()
        if not new.num_frames:
            pass  # only held-out labels this generation: the training set stays as it is
        elif self.ctx.training_set is None:
            self.ctx.training_set = new
        else:
            self.ctx.training_set = merge_training_sets(
                previous=self.ctx.training_set, new=new, metadata={'call_link_label': f'merge_gen{g:02d}'}
            )
        self.ctx.labels_total = self.ctx.training_set.num_frames
        record['labels_total'] = self.ctx.labels_total
        record['training_set_uuid'] = self.ctx.training_set.uuid
        self._timed('merge', started)
        self.report(records.labels_line(g, new.num_frames, record))

    def _add_holdout(self, held) -> None:
        """Merge newly labelled held-out frames into the run's held-out set."""
        g = self.ctx.generation
        if not held.num_frames:
            return
        if self.ctx.holdout is None:
            self.ctx.holdout = held
        else:
            self.ctx.holdout = merge_training_sets(
                previous=self.ctx.holdout, new=held, metadata={'call_link_label': f'merge_holdout_gen{g:02d}'}
            )
        self.ctx.holdout_total = self.ctx.holdout.num_frames
        self._record()['holdout_total'] = self.ctx.holdout_total
        self.report(f'generation {g}: {held.num_frames} held-out labels, {self.ctx.holdout_total} in the held-out set')

    def should_calibrate(self):
        """Whether the previous potential can be calibrated on the labels that just arrived."""
        return not self._ended() and self.ctx.potential is not None and bool(self.ctx.new_labels.num_frames)

    def run_calibration(self):
        """Compare the previous potential's gamma on the new labels with its real force error (a job)."""
        from aiida_mlip_autopipe.uncertainty.job import CalibrationCalculation

        g = self.ctx.generation
        self._phase('calibration')
        inputs = children.calibration_inputs(
            self.cfg, g, self.inputs.codes.uncertainty, self.ctx.potential, self.ctx.new_labels, self.ctx.gamma_lower
        )
        job = self.submit(CalibrationCalculation, **inputs)
        self.report(
            f'generation {g}: launching CalibrationCalculation<{job.pk}> on {self.ctx.new_labels.num_frames} labels'
        )
        return ToContext(calibration=job)

    def inspect_calibration(self):
        """Record the calibration; the next MD dumps above the threshold it gives (unchanged when it failed)."""
        g = self.ctx.generation
        job = self.ctx.pop('calibration')
        self._record()['timings']['calibration'] = round(records.child_seconds(job), 3)
        if not job.is_finished_ok:
            self._job_failed('calibration', job, fatal=False)
            return
        result = job.outputs.calibration
        self.out(f'calibration.gen{g:02d}', result)
        data = result.get_dict()
        records.record_calibration(self._record(), data, result.uuid)
        self.report(records.calibration_line(g, data, self.ctx.gamma_lower))
        self.ctx.gamma_lower = data['gamma_lower_after']
        self.ctx.threshold = result  # the MD settings are made from this node (decisions.md_settings_with_threshold)

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
        """Fit the ACE potential on everything labelled, warm-starting from the previous fit.

        The fit is a ``PacemakerBaseWorkChain``: out of memory, a non-finite loss and a wall-time
        kill are handled there; what still fails is counted against the loop's fit budget.
        """
        from aiida_mlip_autopipe.training.base import PacemakerBaseWorkChain

        g = self.ctx.generation
        self._phase('training')
        warm = self.ctx.potential if self.cfg.training.warm_start else None
        exposed = self.exposed_inputs(PacemakerBaseWorkChain, namespace='training')
        calc = children.fit_inputs(
            self.cfg, g, self.ctx.fit_attempt, exposed['pacemaker']['code'], self.ctx.training_set, warm
        )
        inputs = restarts.base_inputs(exposed, 'pacemaker', calc)
        node = self.submit(PacemakerBaseWorkChain, **inputs)
        self.ctx.fit_attempt += 1
        self.report(
            f'generation {g}: launching PacemakerBaseWorkChain<{node.pk}> on {self.ctx.training_set.num_frames} '
            f'frames' + (' (warm start)' if 'initial_potential' in calc else '')
        )
        return ToContext(fit=node)

    def inspect_training(self):
        """Keep the potential of a successful fit; count failed fits against the budget."""
        g = self.ctx.generation
        node = self.ctx.fit
        record = self._record()
        record['timings']['training'] = round(record['timings'].get('training', 0.0) + records.child_seconds(node), 3)
        if node.is_finished_ok:
            self.ctx.new_potential = node.outputs.potential
            metrics = records.record_fit(record, node, self.ctx.training_set.num_frames)
            self.report(records.fit_line(g, metrics))
            return
        self.ctx.failed_fits += 1
        last = restarts.last_calculation(node)
        failure = {'pk': node.pk, 'exit_status': node.exit_status, 'message': node.exit_message}
        if last.pk != node.pk:
            failure['calculation'] = {'pk': last.pk, 'exit_status': last.exit_status, 'message': last.exit_message}
        record.setdefault('fit_failures', []).append(failure)
        self.report(f'generation {g}: {node.process_label}<{node.pk}> failed [{node.exit_status}] {node.exit_message}')
        budget = self.cfg.loop.failure_budget.fits
        # The restart work chain already retried what is worth retrying (and the same data fails the same
        # way): no second fit in this generation; the next generation, with new labels, fits again.
        self.ctx.fit_attempt = 1 + budget
        if self.ctx.failed_fits > budget:
            decision = stop_rules.Decision(
                'fit_failure_budget', f'{self.ctx.failed_fits} fits failed, above the budget of {budget}'
            )
            self._stop(decision, self.exit_codes.ERROR_FIT_FAILURE_BUDGET_EXCEEDED.format(message=decision.message))

    def should_evaluate(self):
        """Whether a new fit can be measured on the held-out set."""
        return not self._ended() and self.ctx.new_potential is not None and self.ctx.holdout is not None

    def run_evaluation(self):
        """The new potential and the previous one on the held-out set (a job)."""
        from aiida_mlip_autopipe.uncertainty.job import EvaluationCalculation

        g = self.ctx.generation
        potentials = {'new': self.ctx.new_potential}
        if self.ctx.potential is not None:
            potentials['previous'] = self.ctx.potential
        inputs = children.evaluation_inputs(g, self.inputs.codes.uncertainty, potentials, self.ctx.holdout)
        job = self.submit(EvaluationCalculation, **inputs)
        self.report(
            f'generation {g}: launching EvaluationCalculation<{job.pk}> of {" and ".join(potentials)} potential on '
            f'{self.ctx.holdout.num_frames} held-out labels'
        )
        return ToContext(evaluation=job)

    def inspect_evaluation(self):
        """Record the held-out errors; a fit worse than its predecessor is a regression: the predecessor is kept."""
        g = self.ctx.generation
        job = self.ctx.pop('evaluation')
        record = self._record()
        record['timings']['evaluation'] = round(records.child_seconds(job), 3)
        if not job.is_finished_ok:
            self._job_failed('evaluation', job, fatal=False)
            return
        errors = job.outputs.errors.get_dict()
        regression = records.record_holdout(record, errors, self.cfg.loop.regression_tolerance)
        self.report(records.holdout_line(g, errors))
        if regression:
            self.report(f'generation {g}: REGRESSION: {regression}; exploring with the previous potential')
            self.ctx.new_potential = None

    def run_exploration(self):
        """MD at every configured temperature (and pressure) on the new potential, gamma monitored.

        Each run is a ``LammpsBaseWorkChain``: a blow-up or a halt is a result, a wall-time kill keeps
        the partial run.
        """
        from aiida_mlip_autopipe.exploration.base import LammpsBaseWorkChain

        if self._ended():
            return None
        if self.ctx.new_potential is not None:
            self.ctx.potential = self.ctx.new_potential
            self.ctx.new_potential = None
            self.ctx.fit_attempt = 0
        elif self.ctx.potential is not None and self._record().get('fit_failures'):
            # Not silent: the record and the report say the MD runs on the previous fit, and why.
            self._record()['potential_reused'] = self.ctx.potential.pk
            self.report(
                f'generation {self.ctx.generation}: no new potential (the fit failed, see fit_failures); '
                f'exploring with the previous one, AcePotentialData<{self.ctx.potential.pk}>'
            )
        if self.ctx.potential is None:
            self.ctx.exit_code = self.exit_codes.ERROR_NO_POTENTIAL
            self.ctx.stop = {'rule': 'error', 'message': self.ctx.exit_code.message}
            return None
        cfg = self.cfg
        g = self.ctx.generation
        self._phase('md')
        started = time.time()
        inputs = self._inputs_with_structure(config=self.inputs.config, seed=orm.Int(cfg.seed + 100 * g))
        starts = build_md_structures(**inputs, metadata={'call_link_label': f'md_start_gen{g:02d}'})['structures']
        self._timed('md_setup', started)
        exposed = self.exposed_inputs(LammpsBaseWorkChain, namespace='exploration')
        code = exposed['lammps']['code']
        runs = children.md_inputs(cfg, g, starts, self.ctx.potential, code, self.ctx.gamma_lower)
        threshold = self.ctx.get('threshold') or threshold_node(self.ctx.gamma_lower, 'exploration.gamma_lower')
        for label, run in runs.items():  # the graph shows which calibration set each MD's threshold
            run['settings'] = md_settings_with_threshold(
                settings=run['settings'], threshold=threshold, metadata={'call_link_label': f'settings_{label}'}
            )
        launched = {
            label: self.submit(LammpsBaseWorkChain, **restarts.base_inputs(exposed, 'lammps', run))
            for label, run in runs.items()
        }
        self.report(
            f'generation {g}: launching {len(launched)} LammpsBaseWorkChains (gamma dump > {self.ctx.gamma_lower:.2f})'
        )
        self.ctx.md_labels = list(launched)
        return ToContext(**{f'md_{k}': v for k, v in launched.items()})

    def inspect_exploration(self):
        """Gather the MD results: halts, uncertain fraction, max gamma; apply the MD failure budget."""
        self.ctx.trajectories = {}
        if self._ended():
            return
        cfg = self.cfg
        g = self.ctx.generation
        record = self._record()
        runs = {label: self.ctx[f'md_{label}'] for label in self.ctx.get('md_labels', [])}
        trajectories, steps_total, failed, self.ctx.exploration = records.tally_md(record, runs, g)
        for node in failed:
            self.report(
                f'generation {g}: {node.process_label}<{node.pk}> failed [{node.exit_status}] {node.exit_message}'
            )
        record['gamma_lower'] = self.ctx.gamma_lower
        decision = stop_rules.budget_exceeded(record, self.ctx.failed_fits, cfg.loop.failure_budget.model_dump())
        if decision is not None:
            self._stop(decision, self.exit_codes.ERROR_MD_FAILURE_BUDGET_EXCEEDED.format(message=decision.message))
            self.report(decision.message)
            return
        self.report(records.md_line(g, record, steps_total, self.ctx.gamma_lower))
        self.ctx.trajectories = trajectories

    def run_extraction(self):
        """Cut the environments of high-gamma atoms out of the uncertain MD frames (a job)."""
        from aiida_mlip_autopipe.exploration.extract_job import ExtractionCalculation

        if self._ended() or not self.ctx.trajectories:
            return None
        g = self.ctx.generation
        self._phase('extraction')
        inputs = children.extraction_inputs(
            self.cfg, g, self.inputs.codes.extraction, self.ctx.potential, self.ctx.gamma_lower, self.ctx.trajectories
        )
        job = self.submit(ExtractionCalculation, **inputs)
        self.report(
            f'generation {g}: launching ExtractionCalculation<{job.pk}> on {len(self.ctx.trajectories)} trajectories'
        )
        return ToContext(extraction=job)

    def inspect_extraction(self):
        """The extracted environments are the next generation's candidates; then the stop rules decide."""
        if self._ended():
            return
        cfg = self.cfg
        g = self.ctx.generation
        record = self._record()
        new_candidates = {}
        job = self.ctx.pop('extraction', None)
        if job is not None:
            record['timings']['extraction'] = round(records.child_seconds(job), 3)
            if not job.is_finished_ok:
                self._job_failed('extraction', job)
                return
            new_candidates = dict(output_structures(job))
        record['new_candidates'] = len(new_candidates)
        record['pool_remaining'] = len(self.ctx.pool) if cfg.uncertainty.reuse_pool else 0
        self.report(f'generation {g}: {len(new_candidates)} uncertain environments extracted as candidates')
        verdict = decide_stop(
            exploration=self.ctx.exploration,
            history=orm.Dict({'generations': self.ctx.history}),
            loop=orm.Dict(cfg.loop.model_dump(mode='json')),
            metadata={'call_link_label': f'decide_stop_gen{g:02d}'},
        )
        record['decision'] = {'uuid': verdict.uuid, **verdict.get_dict()}
        if verdict['stop']:
            self._stop(stop_rules.Decision(verdict['rule'], verdict['message']))
            self.ctx.stop_node = verdict
            self.report(f'stopping: {verdict["rule"]}: {verdict["message"]} (decide_stop<{verdict.pk}>)')
            self._phase('stopping')
            return
        self._next_generation(new_candidates)

    def _next_generation(self, candidates: dict) -> None:
        """Start the next generation with ``candidates``; its fits start from a clean slate.

        A fit that failed for good in one generation (the same data would fail again) must not
        stop the fits of later generations, which have new labels: before, the attempt counter
        stayed at its maximum and every later generation explored the stale potential silently.
        """
        self.ctx.generation += 1
        self.ctx.fit_attempt = 0
        self.ctx.candidates = candidates
        self.ctx.history.append(self._new_record(self.ctx.generation))
        self._record()['candidates'] = len(candidates)
