"""Stop rules and failure budgets on hand-made histories."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.loop.config import FailureBudget, LoopConfig
from aiida_mlip_autopipe.loop.stop_rules import budget_exceeded, closest_rule, evaluate_stop_rules

LOOP = LoopConfig(max_generations=5, dft_budget=100, stable_fraction=0.02, rmse_plateau=0.05).model_dump()
BUDGET = FailureBudget(label_fraction=0.25, md_fraction=0.5, fits=1).model_dump()


def record(generation, **values):
    base = {
        'generation': generation,
        'labels_tried': 8,
        'labels_failed': 0,
        'labels_total': 8 * (generation + 1),
        'md_runs': 2,
        'md_failed': 0,
        'md_halted': 0,
        'uncertain_fraction': 0.3,
        'new_candidates': 4,
    }
    base.update(values)
    return base


def test_nothing_fires_midway():
    assert evaluate_stop_rules([record(0)], LOOP) is None
    assert evaluate_stop_rules([], LOOP) is None


def test_exploration_stable():
    decision = evaluate_stop_rules([record(0), record(1, uncertain_fraction=0.01)], LOOP)
    assert decision.rule == 'exploration_stable'
    assert '1.00% of MD frames' in decision.message and 'no halted run in 2 MD runs' in decision.message


@pytest.mark.parametrize('change', [{'md_halted': 1}, {'md_failed': 1}, {'md_runs': 0}, {'uncertain_fraction': None}])
def test_not_stable_when_a_run_halted_failed_or_none_ran(change):
    decision = evaluate_stop_rules([record(1, **{'uncertain_fraction': 0.0, **change})], LOOP)
    assert decision is None or decision.rule != 'exploration_stable'


def test_rmse_plateau():
    history = [record(1, prediction_force_rmse=100.0), record(2, prediction_force_rmse=97.0)]
    decision = evaluate_stop_rules(history, LOOP)
    assert decision.rule == 'rmse_plateau'
    assert '100.0 to 97.0 meV/Å (+3.0% improvement)' in decision.message


@pytest.mark.parametrize('current', [80.0, 150.0])
def test_rmse_still_changing_is_no_plateau(current):
    history = [record(1, prediction_force_rmse=100.0), record(2, prediction_force_rmse=current)]
    assert evaluate_stop_rules(history, LOOP) is None


def test_pacemaker_hold_out_does_not_drive_the_plateau():
    history = [record(0, test_force_rmse=100.0), record(1, test_force_rmse=99.0)]
    assert evaluate_stop_rules(history, LOOP) is None


def test_dft_budget():
    decision = evaluate_stop_rules([record(2, labels_total=100)], LOOP)
    assert decision.rule == 'dft_budget'
    assert decision.message == '100 DFT labels used, budget 100'


def test_max_generations():
    decision = evaluate_stop_rules([record(4)], LOOP)
    assert decision.rule == 'max_generations'


def test_no_new_candidates():
    decision = evaluate_stop_rules([record(1, new_candidates=0)], LOOP)
    assert decision.rule == 'no_new_candidates'


def test_unlabelled_pool_keeps_the_loop_going():
    assert evaluate_stop_rules([record(1, new_candidates=0, pool_remaining=12)], LOOP) is None


def test_stable_wins_over_budget():
    decision = evaluate_stop_rules([record(4, labels_total=100, uncertain_fraction=0.0)], LOOP)
    assert decision.rule == 'exploration_stable'


@pytest.mark.parametrize(
    ('values', 'failed_fits', 'rule'),
    [
        ({'labels_failed': 2}, 0, None),
        ({'labels_failed': 3}, 0, 'label_failure_budget'),
        ({'md_failed': 1}, 0, None),
        ({'md_runs': 2, 'md_failed': 2}, 0, 'md_failure_budget'),
        ({}, 1, None),
        ({}, 2, 'fit_failure_budget'),
    ],
)
def test_budgets(values, failed_fits, rule):
    decision = budget_exceeded(record(0, **values), failed_fits, BUDGET)
    assert (decision.rule if decision else None) == rule


def test_closest_rule():
    rule, progress = closest_rule([record(3, labels_total=20)], LOOP)
    assert rule == 'max_generations' and progress == pytest.approx(0.8)
    rule, progress = closest_rule([record(0, labels_total=90)], LOOP)
    assert rule == 'dft_budget' and progress == pytest.approx(0.9)
