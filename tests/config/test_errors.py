"""Problems as a user reads them: the value received, several at once, one readable line each."""

from __future__ import annotations

import textwrap

import pytest

from aiida_mlip_autopipe.config import ConfigError, parse_config
from tests.utils import with_change


def test_error_shows_the_value_received():
    with pytest.raises(ConfigError) as info:
        parse_config(with_change('dft.ecutwfc', -30))
    assert '(got -30)' in info.value.format()


def test_several_problems_are_reported_at_once():
    data = with_change('dft.ecutwfc', -30, with_change('training.cutoff', -1))
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert {'dft.ecutwfc', 'training.cutoff'} <= {loc for loc, _, _ in info.value.problems}


def test_error_format_is_readable():
    error = ConfigError([('dft.ecutwfc', -3, 'Input should be greater than 0')], 'c.yaml')
    assert error.format() == textwrap.dedent(
        """\
        c.yaml: 1 problem(s) in the configuration:
          - dft.ecutwfc (got -3): Input should be greater than 0"""
    )
