"""When the active-learning loop stops, and which failure budget a generation broke.

Pure functions on a per-generation history (plain dicts, as stored in the work chain
context), so every rule is tested without running anything and the work chain's
``should_run_generation`` stays a predicate without side effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ('Decision', 'budget_exceeded', 'closest_rule', 'evaluate_stop_rules', 'nothing_to_label')

#: Keys of one generation's record in the history.
RECORD_KEYS = (
    'generation',
    'labels_tried',
    'labels_failed',
    'labels_total',  # labels accumulated over the run (successful)
    'train_frames',
    'test_force_rmse',  # meV/Å, pacemaker's random hold-out of this generation, None when none
    'prediction_force_rmse',  # meV/Å, previous potential on this generation's new labels (never seen)
    'holdout_force_rmse',  # meV/Å, this generation's potential on the run's held-out set
    'holdout_force_rmse_previous',  # meV/Å, the previous potential on the same frames
    'holdout_total',  # held-out labels so far (never trained on)
    'train_force_rmse',
    'md_runs',
    'md_failed',
    'md_halted',
    'uncertain_fraction',  # fraction of MD frames above gamma_lower, over all runs
    'max_gamma',
    'new_candidates',
)


@dataclass(frozen=True)
class Decision:
    """Why the loop stops (``rule``) with the numbers behind it (``message``)."""

    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form for the work chain outputs."""
        return {'rule': self.rule, 'message': self.message}


def budget_exceeded(record: Mapping[str, Any], failed_fits: int, budget: Mapping[str, Any]) -> Decision | None:
    """The failure budget a generation broke, or ``None``.

    Label and MD budgets are fractions of what the generation tried; the fit budget
    counts failed fits over the whole run.
    """
    tried = record.get('labels_tried', 0)
    failed = record.get('labels_failed', 0)
    if tried and failed / tried > budget['label_fraction']:
        return Decision(
            'label_failure_budget',
            f'{failed} of {tried} DFT labels failed in generation {record.get("generation")}, '
            f'above the budget of {budget["label_fraction"]:.0%}',
        )
    runs = record.get('md_runs', 0)
    md_failed = record.get('md_failed', 0)
    if runs and md_failed / runs > budget['md_fraction']:
        return Decision(
            'md_failure_budget',
            f'{md_failed} of {runs} MD runs failed in generation {record.get("generation")}, '
            f'above the budget of {budget["md_fraction"]:.0%}',
        )
    if failed_fits > budget['fits']:
        return Decision('fit_failure_budget', f'{failed_fits} fits failed, above the budget of {budget["fits"]}')
    return None


def nothing_to_label(generation: int, gamma_lower: float) -> Decision:
    """The loop ends when, after generation 0, nothing survives screening and selection: nothing new is uncertain."""
    return Decision(
        'no_new_candidates',
        f'generation {generation}: nothing left to label (no extracted environment and no pool candidate above '
        f'gamma {gamma_lower:.2f} survived screening and selection)',
    )


def evaluate_stop_rules(history: Sequence[Mapping[str, Any]], loop: Mapping[str, Any]) -> Decision | None:
    """The first stop rule that fires after the last generation of ``history``, or ``None``.

    Order: exploration stable (the goal), test-force RMSE plateau, DFT budget, max
    generations. A stable exploration needs MD that ran: no run halted, none failed,
    and the fraction of frames above ``gamma_lower`` under ``stable_fraction``.
    """
    if not history:
        return None
    last = history[-1]
    generation = last['generation']
    runs = last.get('md_runs', 0)
    fraction = last.get('uncertain_fraction')
    if (
        runs
        and fraction is not None
        and fraction < loop['stable_fraction']
        and not last.get('md_halted', 0)
        and not last.get('md_failed', 0)
    ):
        return Decision(
            'exploration_stable',
            f'generation {generation}: {fraction:.2%} of MD frames above gamma_lower '
            f'(target < {loop["stable_fraction"]:.2%}), no halted run in {runs} MD runs',
        )
    # The yardstick is the run's held-out set: the new potential and the previous one on the same
    # frames, neither fitted to them. Without a held-out set, each potential's error on the next
    # generation's labels (never seen, but picked because it was uncertain there).
    change = None
    if last.get('holdout_force_rmse') is not None and last.get('holdout_force_rmse_previous') is not None:
        previous, current = last['holdout_force_rmse_previous'], last['holdout_force_rmse']
        where = 'the held-out set'
    else:
        rmses = [h.get('prediction_force_rmse') for h in history if h.get('prediction_force_rmse') is not None]
        previous, current = (rmses[-2], rmses[-1]) if len(rmses) >= 2 else (None, None)
        where = 'new, unseen labels'
    if previous and loop.get('rmse_plateau', 0) > 0:
        change = (previous - current) / previous
        if abs(change) < loop['rmse_plateau']:
            return Decision(
                'rmse_plateau',
                f'force RMSE on {where} went from {previous:.1f} to {current:.1f} meV/Å '
                f'({change:+.1%} improvement), within the {loop["rmse_plateau"]:.0%} plateau threshold',
            )
    total = last.get('labels_total', 0) + last.get('holdout_total', 0)
    if total >= loop['dft_budget']:
        held = last.get('holdout_total', 0)
        return Decision(
            'dft_budget',
            f'{total} DFT labels used' + (f' ({held} held out)' if held else '') + f', budget {loop["dft_budget"]}',
        )
    if generation + 1 >= loop['max_generations']:
        return Decision('max_generations', f'{generation + 1} generations run, maximum {loop["max_generations"]}')
    if not last.get('new_candidates', 1) and not last.get('pool_remaining', 0):
        return Decision('no_new_candidates', f'generation {generation}: exploration produced no new candidates')
    return None


def closest_rule(history: Sequence[Mapping[str, Any]], loop: Mapping[str, Any]) -> tuple[str, float]:
    """The stop rule nearest to firing and how far along it is (0–1), for progress views."""
    if not history:
        return 'max_generations', 0.0
    last = history[-1]
    progress = {
        'max_generations': (last['generation'] + 1) / loop['max_generations'],
        'dft_budget': last.get('labels_total', 0) / loop['dft_budget'],
    }
    fraction = last.get('uncertain_fraction')
    if fraction is not None and loop['stable_fraction'] > 0:
        progress['exploration_stable'] = min(1.0, loop['stable_fraction'] / max(fraction, 1e-12))
    rule = max(progress, key=progress.get)
    return rule, min(1.0, progress[rule])
