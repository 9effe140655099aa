"""The exploration and extraction sections of the config, and the settings they hand to the calculations."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.config import ConfigError, parse_config
from aiida_mlip_autopipe.exploration.config import ExplorationConfig, ExtractionConfig
from aiida_mlip_autopipe.exploration.extraction import ExtractionSettings
from aiida_mlip_autopipe.exploration.lammps_input import MDSettings
from tests.utils import assert_names_the_field


def test_md_settings_are_valid_calculation_settings():
    exploration = ExplorationConfig(ensemble='npt', pressures=[5000.0], ramp_factor=2.0, thermostat='langevin')
    settings = MDSettings(**exploration.md_settings(600.0, seed=2**32 - 1))
    assert settings.temperature == 600.0 and settings.t_end == 1200.0
    assert settings.pressure == 5000.0
    assert 1 <= settings.seed <= 900_000_000
    assert settings.every == 10
    constant = ExplorationConfig().md_settings(300.0, seed=0)
    assert constant['temperature_end'] is None and constant['seed'] == 1


def test_extraction_settings_are_valid_function_settings():
    values = ExtractionConfig(buffer=3.0).settings(cutoff=5.5, gamma_lower=2.5, buffer_force_weight=0.2, generation=4)
    settings = ExtractionSettings.from_dict(values)
    assert (settings.core_radius, settings.gamma_threshold, settings.buffer, settings.buffer_weight) == (
        5.5,
        2.5,
        3.0,
        0.2,
    )
    explicit = ExtractionConfig(core_radius=4.0, gamma_threshold=3.0).settings(5.5, 2.5, 0.2, 4)
    assert (explicit['core_radius'], explicit['gamma_threshold']) == (4.0, 3.0)


@pytest.mark.parametrize(
    ('section', 'location', 'message'),
    [
        (
            {'dump_interval': 20, 'n_steps': 2005},
            'exploration',
            'n_steps (2005) must be a multiple of the gamma interval (10)',
        ),
        ({'gamma_interval': 3}, 'exploration', 'thermo_interval (10) must be a multiple of the gamma interval (3)'),
        ({'ramp_factor': 5.0, 'temperatures': [5000.0]}, 'exploration', 'above 20000 K'),
        ({'thermostat': 'berendsen'}, 'exploration.thermostat', "'nose-hoover' or 'langevin'"),
        ({'extraction': {'max_atoms': 300}}, 'exploration.extraction', 'max_box_atoms (256) must be at least'),
        ({'extraction': {'core_radus': 4.0}}, 'exploration.extraction.core_radus', "did you mean 'core_radius'?"),
    ],
)
def test_errors_name_the_field(section, location, message):
    with pytest.raises(ConfigError) as info:
        parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'exploration': section})
    text = str(info.value)
    assert f'  - {location}' in text
    assert message in text


# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('exploration.gamma_lower', 20.0, 'exploration', 'must be below gamma_upper'),
    ('exploration.temperatures', [-300], 'exploration.temperatures[0]', 'greater than 0'),
    ('exploration.temperatures', [], 'exploration.temperatures', 'at least 1 item'),
    ('exploration.timestep', 1.0, 'exploration.timestep', 'less than or equal to 0.01'),
    ('exploration.ensemble', 'nve', 'exploration.ensemble', "'nvt' or 'npt'"),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
