"""The numbers the loop decides on are outputs of calcfunctions, linked to what they came from (issue 14)."""

from __future__ import annotations

import pytest
from aiida import orm

from aiida_mlip_autopipe.loop.config import LoopConfig
from aiida_mlip_autopipe.loop.decisions import (
    count_md,
    decide_stop,
    md_settings_with_threshold,
    tally_exploration,
    threshold_node,
)

LOOP = LoopConfig(max_generations=5, dft_budget=100, stable_fraction=0.02).model_dump(mode='json')


def test_count_md_counts_blow_ups_as_uncertainty_and_failures_apart():
    counts = count_md(
        [
            {'finished_ok': True, 'n_steps': 100, 'summary': {'steps_run': 100, 'fraction_above_lower': 0.1}},
            {
                'finished_ok': False,
                'blow_up': True,
                'n_steps': 100,
                'summary': {'steps_run': 50, 'fraction_above_lower': 0.5, 'max_gamma': 40.0},
            },
            {'finished_ok': False, 'n_steps': 100, 'summary': {}},  # a LAMMPS error: failed, not counted in steps
        ]
    )
    assert counts['md_runs'] == 3 and counts['md_failed'] == 1 and counts['md_halted'] == 1
    assert counts['steps_total'] == 200
    assert counts['uncertain_fraction'] == pytest.approx((10 + 25 + 50) / 200)
    assert counts['max_gamma'] == 40.0


def test_no_md_steps_give_no_fraction():
    assert count_md([{'finished_ok': False, 'n_steps': 10}])['uncertain_fraction'] is None


def test_the_threshold_node_sets_the_md_settings(aiida_profile):
    calibration = orm.Dict({'gamma_lower_before': 2.0, 'gamma_lower_after': 3.5}).store()
    settings = md_settings_with_threshold(orm.Dict({'gamma_lower': 2.0, 'gamma_upper': 10.0}), calibration)
    assert settings['gamma_lower'] == 3.5
    creator = settings.creator
    assert creator.inputs.threshold.uuid == calibration.uuid  # the graph: calibration -> MD settings
    clamped = md_settings_with_threshold(orm.Dict({'gamma_upper': 3.0}), threshold_node(7.0, 'config'))
    assert clamped['gamma_lower'] == pytest.approx(0.999 * 3.0)  # never at or above the halt


def test_a_threshold_without_a_value_is_an_error(aiida_profile):
    with pytest.raises(ValueError, match='holds no gamma_lower'):
        md_settings_with_threshold.run_get_node(orm.Dict({'gamma_upper': 3.0}), orm.Dict({'source': 'x'}))


def _tally(aiida_profile, fraction: float, halted: bool = False) -> orm.Dict:
    summary = orm.Dict({'steps_run': 100, 'fraction_above_lower': fraction, 'max_gamma': 2.0, 'halted': halted})
    return tally_exploration(runs=orm.Dict({'md_a': {'finished_ok': True, 'n_steps': 100}}), md_a=summary.store())


def test_decide_stop_says_stop_on_a_stable_exploration(aiida_profile):
    tally = _tally(aiida_profile, 0.0)
    history = orm.Dict({'generations': [{'generation': 0, 'labels_total': 10}]})
    verdict = decide_stop(tally, history, orm.Dict(LOOP))
    assert verdict['stop'] is True and verdict['rule'] == 'exploration_stable'
    assert verdict.creator.inputs.exploration.uuid == tally.uuid  # MD summaries -> tally -> decision
    assert tally.creator.inputs.md_a.creator is None  # the summary node itself is an input of the tally


@pytest.mark.parametrize(('fraction', 'halted'), [(0.3, False), (0.0, True)])
def test_decide_stop_says_go_on_while_md_is_uncertain(aiida_profile, fraction, halted):
    verdict = decide_stop(
        _tally(aiida_profile, fraction, halted),
        orm.Dict({'generations': [{'generation': 0, 'labels_total': 10}]}),
        orm.Dict(LOOP),
    )
    assert verdict['stop'] is False and verdict['rule'] is None
