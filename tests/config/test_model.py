"""The whole config: defaults of every section, the stored form, and the top-level keys."""

from __future__ import annotations

import json

import pytest

from aiida_mlip_autopipe.config import MLIPConfig, parse_config
from tests.utils import MINIMAL_CONFIG, assert_names_the_field


def test_minimal_config_has_defaults():
    config = parse_config(MINIMAL_CONFIG)
    assert isinstance(config, MLIPConfig)
    assert config.target.composition == {'Si': 1.0}
    assert config.dft.protocol == 'fast'
    assert config.dft.pseudo_family == 'MLIPAutoPipe/Debian/LDA'
    assert config.exploration.gamma_lower < config.exploration.gamma_upper
    assert config.training.repulsion.inner_cutoff is None  # derived per pair from covalent radii
    assert 0 < config.training.kappa < 1
    # The stored form round-trips exactly.
    assert parse_config(json.loads(json.dumps(config.to_dict()))).to_dict() == config.to_dict()


# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('name', 'my run', 'name', 'contains'),
    ('seed', -1, 'seed', 'greater than or equal to 0'),
    ('surprise', {}, 'surprise', 'unknown key'),
    ('validaton', {}, 'validaton', "did you mean 'validation'"),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
