"""Configs written for the layout before the stage sections: every moved key is named with its new home."""

from __future__ import annotations

import re

import pytest

from aiida_mlip_autopipe.config import ConfigError, parse_config
from aiida_mlip_autopipe.config.migration import MOVED_KEYS
from aiida_mlip_autopipe.screening.config import ScreeningConfig
from aiida_mlip_autopipe.selection.config import SelectionConfig
from tests.utils import MINIMAL_CONFIG, with_change


def _problems(data) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return {loc: message for loc, _, message in info.value.problems}


def test_the_surrogate_section_says_how_it_was_split():
    problems = _problems(with_change('surrogate', {'model': 'none', 'n_select': 4}))
    assert problems == {
        'surrogate': 'this section was split in two: move model, max_force, energy_window, min_distance_factor, '
        'batch_size, device to screening: and n_select, duplicate_distance, descriptor to selection:'
    }


def test_the_split_message_lists_every_field_of_the_two_new_sections():
    message = MOVED_KEYS[('surrogate',)]
    to_screening, to_selection = re.match(r'.*move (.*) to screening: and (.*) to selection:', message).groups()
    # Keys that surrogate never had: the stage's job code, the phase check, the D-optimal method.
    new_screening, new_selection = {'code', 'energy_above_phase'}, {'code', 'method', 'min_gamma'}
    assert set(to_screening.split(', ')) == set(ScreeningConfig.model_fields) - new_screening
    assert set(to_selection.split(', ')) == set(SelectionConfig.model_fields) - new_selection


@pytest.mark.parametrize(
    ('old', 'value', 'new'),
    [
        ('calibrate_gamma', True, 'uncertainty.calibrate'),
        ('gamma_bounds', [1.0, 4.0], 'uncertainty.bounds'),
        ('calibration_error', 0.2, 'uncertainty.error_target'),
        ('reuse_pool', False, 'uncertainty.reuse_pool'),
    ],
)
def test_loop_keys_that_moved_to_uncertainty(old, value, new):
    data = with_change(f'loop.{old}', value)
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert f'  - loop.{old}: moved to {new}' in info.value.format()
    # The same value at the new place is accepted.
    section, field = new.split('.')
    assert getattr(getattr(parse_config(with_change(new, value)), section), field) == (
        tuple(value) if isinstance(value, list) else value
    )


def test_moved_keys_are_reported_with_the_other_problems():
    data = with_change('loop.calibrate_gamma', True, with_change('dft.ecutwfc', -30))
    problems = _problems(data)
    assert problems['loop.calibrate_gamma'] == 'moved to uncertainty.calibrate'
    assert 'greater than 0' in problems['dft.ecutwfc']


def test_an_unknown_loop_key_is_still_an_unknown_key():
    assert 'unknown key' in _problems(with_change('loop.calibrate', True))['loop.calibrate']
    assert parse_config(MINIMAL_CONFIG).uncertainty.calibrate is False
