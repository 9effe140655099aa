"""The ``training`` section: an error that names the field for every bad input."""

from __future__ import annotations

import pytest

from tests.utils import assert_names_the_field

# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('training.cutoff', -1, 'training.cutoff', 'greater than 1'),
    ('training.functions_per_element', 0, 'training.functions_per_element', 'greater than or equal to 1'),
    ('training.code', 'pace|x', 'training.code', 'contains'),
    ('training.optimiser', 'BFGS', 'training.optimiser', "did you mean 'optimizer'"),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
