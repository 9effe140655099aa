"""The ``dft`` section: spin defaults, and an error that names the field for every bad input."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.config import parse_config
from tests.utils import assert_names_the_field, with_change


@pytest.mark.parametrize(
    ('elements', 'expected'),
    [(['Si'], {}), (['Fe'], {'Fe': 0.4}), (['Ni', 'Al'], {'Ni': 0.25, 'Al': 0.1})],
)
def test_magnetisation_chosen_for_magnetic_elements(elements, expected):
    config = parse_config({'target': {'elements': elements, 'prototype': 'fcc'}})
    assert config.dft.magnetization_for(elements) == expected


def test_magnetisation_can_be_forced_off_and_set():
    config = parse_config(
        with_change('dft', {'spin_polarised': False}, {'target': {'elements': ['Fe'], 'prototype': 'bcc'}})
    )
    assert config.dft.magnetization_for(['Fe']) == {}
    config = parse_config(
        with_change(
            'dft', {'starting_magnetization': {'Fe': 0.7}}, {'target': {'elements': ['Fe'], 'prototype': 'bcc'}}
        )
    )
    assert config.dft.magnetization_for(['Fe']) == {'Fe': 0.7}


# (dotted path, value, field named in the error, fragment of the message)
BAD = [
    ('dft.ecutwfc', -30, 'dft.ecutwfc', 'greater than 0'),
    ('dft.ecutrho', 10, 'dft', 'ecutwfc is not'),
    ('dft', {'ecutwfc': 30, 'ecutrho': 60}, 'dft', 'at least 4'),
    ('dft.kpoint_distance', 0.2, 'dft.kpoint_distance', "did you mean 'kpoints_distance'"),
    ('dft.kpoints_distance', 0, 'dft.kpoints_distance', 'greater than 0.01'),
    ('dft.protocol', 'moderate', 'dft.protocol', "'fast', 'balanced' or 'stringent'"),
    ('dft.smearing', 'gauss', 'dft.smearing', "did you mean 'gaussian'"),
    ('dft.code', 'pw; rm -rf /', 'dft.code', 'contains'),
    ('dft.code', '$(reboot)', 'dft.code', 'contains'),
    ('dft.pseudo_family', 'SSSP `x`', 'dft.pseudo_family', 'contains'),
    ('dft.parameters', {'SYSTM': {'nbnd': 8}}, 'dft.parameters', "did you mean 'SYSTEM'"),
    ('dft.starting_magnetization', {'Fe': 2}, 'dft.starting_magnetization', 'must be in [-1, 1]'),
    ('dft.max_concurrent', 0, 'dft.max_concurrent', 'greater than or equal to 1'),
    ('dft.num_mpiprocs', 1.5, 'dft.num_mpiprocs', 'valid integer'),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    assert_names_the_field(path, value, field, fragment)
