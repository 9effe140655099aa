"""Loading a config file: YAML, broken YAML, a missing file, and the example configs."""

from __future__ import annotations

import pytest
import yaml

from aiida_mlip_autopipe.config import ConfigError, load_config, parse_config
from tests.utils import MINIMAL_CONFIG


def test_not_a_mapping():
    with pytest.raises(ConfigError, match='must be a mapping'):
        parse_config(['target'])


def test_load_yaml(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(MINIMAL_CONFIG))
    assert load_config(path).target.elements == ['Si']


@pytest.mark.parametrize(
    ('text', 'fragment'),
    [('', 'the file is empty'), ('target: [unclosed', 'not valid YAML at line'), ('- a\n- b\n', 'must be a mapping')],
)
def test_load_broken_yaml(tmp_path, text, fragment):
    path = tmp_path / 'config.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace('(', r'\(')):
        load_config(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='config file not found'):
        load_config(tmp_path / 'nope.yaml')


def test_example_configs_are_valid():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[2] / 'examples').glob('**/*.yaml'))
    assert examples, 'no example configs found'
    for path in examples:
        load_config(path)
