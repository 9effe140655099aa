"""The ``loop`` section: an error that names the field for every bad input."""

from __future__ import annotations

import pytest

from tests.utils import assert_names_the_field

# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('loop.max_generations', 0, 'loop.max_generations', 'greater than or equal to 1'),
    ('loop.dft_budget', -1, 'loop.dft_budget', 'greater than or equal to 1'),
    ('loop.failure_budget', {'label_fraction': 1.5}, 'loop.failure_budget.label_fraction', 'less than or equal to 1'),
    ('loop.stop_after', 3, 'loop.stop_after', 'unknown key'),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
