"""The final refit of ``ActiveLearningWorkChain``: the converged potential a run hands over.

Per-generation fits are cheap on purpose (few iterations, warm starts, a small basis): they
only have to be good enough to steer the next generation. Once the loop stops, every label
is fitted again from scratch, with a basis sized to the data
(:func:`~aiida_mlip_autopipe.loop.children.final_basis_size`), the final fit's iterations and
``loop.final_fit.seeds`` seeds at once; the candidates and the last loop potential are measured
on the held-out set (one ``EvaluationCalculation``) and the best becomes the run's
``potential``. Like the other step modules this is a mixin of the work chain.
"""

from __future__ import annotations

from typing import Any

from aiida.engine import ToContext

from aiida_mlip_autopipe.loop import children, records

__all__ = ('FinalFitSteps', 'best_potential')


def best_potential(errors: dict[str, Any], baseline: str = 'loop') -> tuple[str, dict[str, float]]:
    """The key of the potential with the lowest held-out error, and every candidate's score.

    Score: energy RMSE and force RMSE, each relative to the ``baseline`` potential's, summed
    (the baseline scores 2); so neither energies nor forces may degrade unnoticed.
    """
    base = errors[baseline]
    scores = {}
    for key, value in errors.items():
        if not isinstance(value, dict) or 'energy_rmse' not in value:
            continue
        scores[key] = value['energy_rmse'] / max(base['energy_rmse'], 1e-9) + value['force_rmse'] / max(
            base['force_rmse'], 1e-9
        )
    best = min(sorted(scores), key=lambda k: (scores[k], k != baseline))
    return best, scores


class FinalFitSteps:
    """Refit from scratch with several seeds; keep the best on the held-out set."""

    def should_refit(self):
        """Refit when the loop ended without error, a training set exists and the final fit is on."""
        return self.ctx.exit_code is None and self.ctx.training_set is not None and self.cfg.loop.final_fit.enabled

    def run_final_fit(self):
        """Fits from scratch on every label, one per seed, all at once."""
        from aiida_mlip_autopipe.loop.restarts import base_inputs
        from aiida_mlip_autopipe.training.base import PacemakerBaseWorkChain

        cfg = self.cfg
        self._phase('final fit')
        functions = children.final_basis_size(cfg, self.ctx.training_set)
        exposed = self.exposed_inputs(PacemakerBaseWorkChain, namespace='training')
        jobs = {}
        for seed in range(cfg.loop.final_fit.seeds):
            calc = children.final_fit_inputs(cfg, seed, functions, exposed['pacemaker']['code'], self.ctx.training_set)
            jobs[f'final_fit_{seed}'] = self.submit(PacemakerBaseWorkChain, **base_inputs(exposed, 'pacemaker', calc))
        self.ctx.final = {'functions_per_element': functions, 'maxiter': cfg.loop.final_fit.maxiter, 'fits': {}}
        self.report(
            f'final fit: launching {len(jobs)} PacemakerBaseWorkChains <{", ".join(str(j.pk) for j in jobs.values())}> '
            f'from scratch on {self.ctx.training_set.num_frames} labels, {functions} functions per element, '
            f'{cfg.loop.final_fit.maxiter} iterations'
        )
        self.ctx.final_jobs = sorted(jobs)
        return ToContext(**jobs)

    def inspect_final_fit(self):
        """Collect the refits that succeeded; a failed one is reported, never fatal (the loop potential remains)."""
        self.ctx.final_potentials = {}
        for key in self.ctx.final_jobs:
            job = self.ctx[key]
            seed = key.rsplit('_', 1)[1]
            if job.is_finished_ok:
                self.ctx.final_potentials[f'seed{seed}'] = job.outputs.potential
                self.ctx.final['fits'][f'seed{seed}'] = {'pk': job.pk, **records.fit_summary(job)}
            else:
                self.ctx.final['fits'][f'seed{seed}'] = {'pk': job.pk, 'exit_status': job.exit_status}
                self.report(f'final fit: {job.process_label}<{job.pk}> failed [{job.exit_status}] {job.exit_message}')
        self._adopt_unmeasured_refit()

    def should_evaluate_final(self):
        """Whether there are refits to compare with the loop potential on the held-out set."""
        return bool(self.ctx.final_potentials) and self.ctx.holdout is not None and self.ctx.potential is not None

    def run_final_evaluation(self):
        """The refits and the last loop potential on the held-out set (one job)."""
        from aiida_mlip_autopipe.uncertainty.job import EvaluationCalculation

        potentials = {'loop': self.ctx.potential, **self.ctx.final_potentials}
        inputs = children.evaluation_inputs('final', self.inputs.codes.uncertainty, potentials, self.ctx.holdout)
        job = self.submit(EvaluationCalculation, **inputs)
        self.report(f'final fit: launching EvaluationCalculation<{job.pk}> of {", ".join(potentials)}')
        return ToContext(final_evaluation=job)

    def inspect_final_evaluation(self):
        """The potential of lowest held-out error becomes the run's; every candidate's numbers are recorded."""
        job = self.ctx.final_evaluation
        if not job.is_finished_ok:
            self._job_failed('final evaluation', job, fatal=False)
            return
        errors = job.outputs.errors.get_dict()
        best, scores = best_potential(errors)
        self.ctx.final.update(
            {
                'evaluation_pk': job.pk,
                'holdout_frames': errors['loop']['n_frames'],
                'errors': {
                    k: {'energy_rmse': v['energy_rmse'], 'force_rmse': v['force_rmse']}
                    for k, v in errors.items()
                    if isinstance(v, dict) and 'energy_rmse' in v
                },
                'scores': scores,
                'chosen': best,
            }
        )
        lines = [
            f'{k} E {v["energy_rmse"]:.1f} meV/atom F {v["force_rmse"]:.1f} meV/Å'
            for k, v in self.ctx.final['errors'].items()
        ]
        self.report(f'final fit on the held-out set: {"; ".join(lines)}; chosen: {best}')
        if best != 'loop':
            self.ctx.potential = self.ctx.final_potentials[best]

    def _adopt_unmeasured_refit(self) -> None:
        """Without a held-out set the first refit that succeeded is taken (said so in the report)."""
        if self.ctx.final_potentials and self.ctx.holdout is None:
            first = sorted(self.ctx.final_potentials)[0]
            self.ctx.potential = self.ctx.final_potentials[first]
            self.ctx.final['chosen'] = first
            self.report(f'final fit: no held-out set to compare on; taking the refit {first}')
