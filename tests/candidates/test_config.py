"""The ``target`` and ``generator`` sections: defaults, and an error that names the field for every bad input."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.config import ConfigError, parse_config
from tests.utils import assert_names_the_field, with_change


def test_alloy_composition_defaults_to_equimolar():
    config = parse_config({'target': {'elements': ['Si', 'Ge'], 'prototype': 'diamond'}})
    assert config.target.composition == {'Si': 0.5, 'Ge': 0.5}
    assert config.target.is_alloy


def test_composition_must_sum_to_one():
    with pytest.raises(ConfigError, match='sum to 0.7'):
        parse_config(with_change('target.composition', {'Si': 0.7}))


# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('target.elements', None, 'target.elements', 'required field is missing'),
    ('target.elements', ['Xx'], 'target.elements', 'unknown element'),
    ('target.elements', ['Sii'], 'target.elements', "did you mean 'Si'"),
    ('target.elements', [], 'target.elements', 'at least 1 item'),
    ('target.elements', ['Si', 'Si'], 'target.elements', 'duplicates'),
    ('target.elements', 'Si', 'target.elements', 'valid list'),
    ('target.elemnts', ['Si'], 'target.elemnts', "did you mean 'elements'"),
    ('target.prototype', 'diamnd', 'target.prototype', "did you mean 'diamond'"),
    ('target.prototype', None, 'target', 'give either prototype'),
    ('target.composition', {'Si': 0.7}, 'target', None),
    ('target.composition', {'Ge': 1.0}, 'target', 'must give a fraction for each element'),
    ('target.composition', {'Si': 1.5}, 'target', 'fractions must be in (0, 1]'),
    ('target.composition', {'Si': 'lots'}, 'target.composition.Si', 'valid number'),
    ('target.lattice_constant', -5.4, 'target.lattice_constant', 'greater than 0'),
    ('target.lattice_constant', 'big', 'target.lattice_constant', 'valid number'),
    ('target.supercell_atoms', [0], 'target.supercell_atoms[0]', 'greater than or equal to 1'),
    ('target.structure_file', '../../etc/passwd', 'target.structure_file', 'escapes the working folder'),
    ('target.structure_file', 'a;b.cif', 'target.structure_file', 'contains'),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
