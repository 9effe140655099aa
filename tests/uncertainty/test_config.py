"""The ``uncertainty`` section: an error that names the field for every bad input."""

from __future__ import annotations

import pytest

from tests.utils import assert_names_the_field

# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('uncertainty.bounds', [5, 2], 'uncertainty.bounds', '0 < low < high'),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
