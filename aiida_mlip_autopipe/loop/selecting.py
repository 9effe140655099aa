"""The first half of a generation of ``ActiveLearningWorkChain``: screen the new candidates, score the pool, select.

Each is a job (``ScreeningCalculation``, ``ScoringCalculation``, ``SelectionCalculation``)
submitted on the stage's code and awaited, so the daemon worker never loads a model or
computes descriptors itself. Screening of the new candidates and scoring of the unlabelled
pool run at the same time. Like :mod:`~aiida_mlip_autopipe.loop.generation`, this is a
mixin of the work chain, not a process.
"""

from __future__ import annotations

from aiida.engine import ToContext

from aiida_mlip_autopipe.common.stage_job import output_structures
from aiida_mlip_autopipe.loop import children, records, stop_rules

__all__ = ('SelectionSteps',)


class SelectionSteps:
    """Screen (and score the pool), then select what to label."""

    def _n_select(self) -> int:
        """Picks of this generation: ``selection.n_select`` (raised before the first fit), within the DFT budget."""
        cfg = self.cfg
        wanted = records.first_fit_minimum(cfg, self.ctx.candidates, labelled=self.ctx.training_set is not None)
        if wanted > cfg.selection.n_select:
            self.report(records.first_fit_line(cfg, wanted))
        return max(0, min(wanted, cfg.loop.dft_budget - self.ctx.labels_total - self.ctx.holdout_total))

    def run_screening(self):
        """Screen the new candidates with the universal model; score the unlabelled pool with the current potential."""
        from aiida_mlip_autopipe.screening.job import ScreeningCalculation
        from aiida_mlip_autopipe.uncertainty.job import ScoringCalculation

        cfg = self.cfg
        g = self.ctx.generation
        self._phase('screening')
        self.ctx.selected = {}
        self.ctx.screened = {}
        self.ctx.n_select = self._n_select()
        if self.ctx.n_select == 0:
            return None
        jobs = {}
        if self.ctx.candidates:
            if g == 0:
                self.ctx.phase_references = children.phase_references(self.ctx.candidates)
            inputs = children.screening_inputs(
                cfg,
                g,
                self.inputs.codes.screening,
                self.inputs.screening_model,
                self.ctx.candidates,
                self.ctx.get('phase_references'),
            )
            jobs['screening'] = self.submit(ScreeningCalculation, **inputs)
            self.report(
                f'generation {g}: launching ScreeningCalculation<{jobs["screening"].pk}> for '
                f'{len(self.ctx.candidates)} candidates'
            )
        pool = self.ctx.pool
        if cfg.uncertainty.reuse_pool and self.ctx.potential is not None and pool:
            inputs = children.scoring_inputs(
                g, self.inputs.codes.uncertainty, self.ctx.potential, self.ctx.gamma_lower, pool
            )
            jobs['scoring'] = self.submit(ScoringCalculation, **inputs)
            self.report(
                f'generation {g}: launching ScoringCalculation<{jobs["scoring"].pk}> for {len(pool)} pool candidates'
            )
        return ToContext(**jobs)

    def inspect_screening(self):
        """Keep what the screen passed (keys carry the generation) and what the pool scoring found uncertain."""
        g = self.ctx.generation
        record = self._record()
        kept = {}
        job = self.ctx.pop('screening', None)
        if job is not None:
            record['timings']['screening'] = round(records.child_seconds(job), 3)
            if not job.is_finished_ok:
                self._job_failed('screening', job)
                return None
            # Keys carry the generation so that pools of several generations never collide.
            kept = {f'g{g:02d}_{key}': node for key, node in output_structures(job).items()}
            record['screened_out'] = len(self.ctx.candidates) - len(kept)
            self.report(f'generation {g}: screening kept {len(kept)} of {len(self.ctx.candidates)} candidates')
        job = self.ctx.pop('scoring', None)
        if job is not None:
            record['timings']['pool_scoring'] = round(records.child_seconds(job), 3)
            if not job.is_finished_ok:
                # The pool is an extra source of candidates: without its scores the generation goes on without it.
                self._job_failed('pool scoring', job, fatal=False)
                job = None
        if job is not None:
            uncertain = {key: node for key, node in output_structures(job).items() if key not in kept}
            record['pool_uncertain'] = len(uncertain)
            self.report(records.pool_line(g, len(uncertain), len(self.ctx.pool), self.ctx.gamma_lower))
            kept.update(uncertain)
        self.ctx.screened = kept
        if not kept and self.ctx.n_select:
            self._nothing_to_label()
        return None

    def _job_failed(self, what: str, job, fatal: bool = True) -> None:
        """A stage job failed: report it; a fatal one stops the run with a clear exit code."""
        message = f'generation {self.ctx.generation}: the {what} job {job.process_label}<{job.pk}> failed ' + (
            f'[{job.exit_status}] {job.exit_message}' if job.exit_status is not None else '(excepted or killed)'
        )
        self._record().setdefault('job_failures', []).append(
            {'what': what, 'pk': job.pk, 'exit_status': job.exit_status, 'fatal': fatal}
        )
        if not fatal:
            self.report(f'{message}; going on without it')
            return
        self.report(message)
        exit_code = self.exit_codes.ERROR_SUB_PROCESS_FAILED_STAGE_JOB.format(message=message)
        self._stop(stop_rules.Decision('error', message), exit_code)

    def run_selection(self):
        """Pick the batch to label (D-optimal on the ACE basis, or FPS on SOAP), aware of what is already labelled."""
        from aiida_mlip_autopipe.selection.job import SelectionCalculation

        if self._ended() or not self.ctx.screened:
            return None
        g = self.ctx.generation
        self._phase('selection')
        inputs = children.selection_inputs(
            self.cfg,
            g,
            self.inputs.codes.selection,
            self.ctx.screened,
            self.ctx.n_select,
            self.ctx.training_set,
            self.ctx.potential,
        )
        job = self.submit(SelectionCalculation, **inputs)
        self.report(
            f'generation {g}: launching SelectionCalculation<{job.pk}> to pick {self.ctx.n_select} of '
            f'{len(self.ctx.screened)}'
        )
        return ToContext(selection=job)

    def inspect_selection(self):
        """The picks go to labelling; what was screened but not picked stays in the pool for later generations."""
        job = self.ctx.pop('selection', None)
        if job is None:
            return None
        g = self.ctx.generation
        record = self._record()
        record['timings']['selection'] = round(records.child_seconds(job), 3)
        if not job.is_finished_ok:
            self._job_failed('selection', job)
            return None
        self.ctx.selected = dict(output_structures(job))
        self._draw_holdout()
        picked = set(self.ctx.selected) | set(self.ctx.holdout_new)
        self.ctx.pool = {key: node for key, node in {**self.ctx.pool, **self.ctx.screened}.items() if key not in picked}
        record['selected'] = len(self.ctx.selected)
        method = {'fps': 'farthest point sampling on SOAP', 'doptimal': 'D-optimality on the ACE basis'}
        summary = job.outputs.selection.get_dict()
        self.report(
            f'generation {g}: selected {len(self.ctx.selected)} by {method[summary["method"]]}'
            + (f' ({summary["start"]})' if summary.get('start') else '')
            + (f'; stopped: {summary["stopped"]}' if summary.get('stopped') else '')
        )
        if not self.ctx.selected:
            self._nothing_to_label()
        return None

    def _draw_holdout(self) -> None:
        """Structures for the held-out set: in generation 0 from the screened pool, later from new MD cut-outs."""
        from aiida import orm

        from aiida_mlip_autopipe.loop.holdout import draw_holdout

        cfg = self.cfg
        g = self.ctx.generation
        self.ctx.holdout_new = {}
        wanted = cfg.loop.holdout if g == 0 else cfg.loop.holdout_per_generation
        room = cfg.loop.dft_budget - self.ctx.labels_total - self.ctx.holdout_total - len(self.ctx.selected)
        rest = {key: node for key, node in self.ctx.screened.items() if key not in self.ctx.selected}
        n = max(0, min(wanted, room, len(rest)))
        if n == 0:
            return
        origins = [] if g == 0 else ['gamma-extract']
        drawn = draw_holdout(
            n=orm.Int(n),
            seed=orm.Int(cfg.seed + 7919 * (g + 1)),
            origins=orm.List(origins),
            structures=rest,
            metadata={'call_link_label': f'holdout_gen{g:02d}'},
        )
        self.ctx.holdout_new = dict(drawn.get('structures', {}))
        if self.ctx.holdout_new:
            self.report(
                f'generation {g}: {len(self.ctx.holdout_new)} candidates drawn for the held-out set '
                f'({", ".join(sorted({n.base.extras.get("origin", "?") for n in self.ctx.holdout_new.values()}))}); '
                'they are labelled but never trained on'
            )

    def _nothing_to_label(self) -> None:
        """An empty selection ends the loop: nothing new is uncertain; with nothing labelled at all, it is an error.

        In generation 0 of a continued run the labels it starts from are fitted anyway.
        """
        g = self.ctx.generation
        if g == 0 and self.ctx.training_set is not None:
            return
        if g == 0:
            reason = 'every candidate was rejected by screening' if self.ctx.candidates else 'no candidate was made'
            exit_code = self.exit_codes.ERROR_NO_CANDIDATES.format(generation=g, reason=reason)
            self._stop(stop_rules.Decision('error', exit_code.message), exit_code)
            self.report(exit_code.message)
            return
        decision = stop_rules.nothing_to_label(g, self.ctx.gamma_lower)
        self._stop(decision)
        self.report(f'stopping: {decision.rule}: {decision.message}')

    def has_selection(self):
        """Whether there is something to label this generation (picks, or structures for the held-out set)."""
        return bool(self.ctx.selected or self.ctx.get('holdout_new')) and not self._ended()
