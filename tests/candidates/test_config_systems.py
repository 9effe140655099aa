"""The molecule, surfaces and shares fields of ``target``: accepted configs and errors that name the field."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.config import ConfigError, parse_config


def _problems(target, **sections):
    with pytest.raises(ConfigError) as info:
        parse_config({'target': target, **sections})
    return {loc: message for loc, _, message in info.value.problems}


SI = {'elements': ['Si'], 'prototype': 'diamond'}


def test_good_molecule_surface_and_mixed_targets():
    water = parse_config({'target': {'elements': ['H', 'O'], 'molecule': {'name': 'H2O'}}}).target
    assert water.kinds == ['molecule'] and water.composition == pytest.approx({'H': 2 / 3, 'O': 1 / 3})
    slab = parse_config({'target': {**SI, 'surfaces': [{'miller': [1, 0, 0]}], 'shares': {'surface': 1}}}).target
    assert slab.kinds == ['surface']
    mixed = parse_config({'target': {**SI, 'surfaces': [{'miller': [1, 1, 1], 'layers': 6}]}}).target
    assert mixed.kinds == ['bulk', 'surface']
    hexagonal = parse_config(
        {'target': {'elements': ['Mg'], 'prototype': 'hcp', 'surfaces': [{'miller': [1, 0, -1, 0]}]}}
    ).target
    assert hexagonal.surfaces[0].miller == [1, 0, -1, 0]


@pytest.mark.parametrize(
    ('target', 'field', 'fragment'),
    [
        ({**SI, 'surfaces': [{'miller': [1, 0, 0], 'vacuum': 0}]}, 'target.surfaces[0].vacuum', 'is no vacuum'),
        ({**SI, 'surfaces': [{'miller': [1, 0, 0], 'vacuum': 1.5}]}, 'target.surfaces[0].vacuum', 'at least 3'),
        ({**SI, 'surfaces': [{'miller': [1, 0, -1, 0]}]}, 'target.surfaces[0].miller', 'need a hexagonal lattice'),
        ({**SI, 'surfaces': [{'miller': [0, 0, 0]}]}, 'target.surfaces[0].miller', 'name no plane'),
        ({**SI, 'surfaces': [{'miller': [2, 0, 0]}]}, 'target.surfaces[0].miller', 'common factor 2'),
        ({**SI, 'surfaces': [{'miller': [1, 1]}]}, 'target.surfaces[0].miller', 'give three integers'),
        (
            {'elements': ['Mg'], 'prototype': 'hcp', 'surfaces': [{'miller': [1, 0, 1, 0]}]},
            'target.surfaces[0].miller',
            '-(h + k)',
        ),
        ({**SI, 'surfaces': [{'miller': [9, 7, 5], 'layers': 30}]}, 'target.surfaces[0].miller', 'vicinal cut'),
        (
            {**SI, 'surfaces': [{'miller': [3, 2, 1], 'layers': 40, 'repeat': [4, 4]}]},
            'target.surfaces[0].miller',
            'more than 600',
        ),
        ({**SI, 'surfaces': [{'miller': [1, 0, 0], 'layers': 1}]}, 'target.surfaces[0].layers', 'greater than'),
        ({'elements': ['Si'], 'surfaces': [{'miller': [1, 0, 0]}]}, 'target', 'give either prototype'),
        ({'elements': ['H', 'O'], 'molecule': {'name': 'H2O0'}}, 'target.molecule.name', "did you mean 'H2O'"),
        ({'elements': ['H', 'O'], 'molecule': {'name': 'water'}}, 'target.molecule.name', 'unknown molecule'),
        ({'elements': ['H'], 'molecule': {'name': 'H2O'}}, 'target.molecule.name', "contains ['O']"),
        ({'elements': ['H', 'O'], 'molecule': {'name': 'H2O', 'vacuum': 0}}, 'target.molecule.vacuum', 'no vacuum'),
        ({'elements': ['H', 'O'], 'molecule': {}}, 'target.molecule', 'by name'),
        ({'elements': ['H', 'O'], 'molecule': {'name': 'H2O', 'file': 'w.xyz'}}, 'target.molecule', 'not both'),
        (
            {'elements': ['H', 'O'], 'molecule': {'name': 'H2O', 'cluster_sizes': [0]}},
            'target.molecule.cluster_sizes[0]',
            'greater than or equal to 1',
        ),
        ({**SI, 'shares': {'bulk': 0.5, 'surface': 0.5}}, 'target', 'no surfaces'),
        ({**SI, 'shares': {'bulk': 0.7}}, 'target', 'sum to 0.7'),
        ({**SI, 'shares': {'slab': 1.0}}, 'target.shares.slab.[key]', "'bulk', 'surface' or 'molecule'"),
    ],
)
def test_bad_targets_name_the_field(target, field, fragment):
    problems = _problems(target)
    assert field in problems, problems
    assert fragment in problems[field]


def test_new_operations_are_known_and_checked():
    config = parse_config(
        {
            'target': {'elements': ['H', 'O'], 'molecule': {'name': 'H2O'}},
            'generator': {'operations': [{'kind': 'stretch', 'range': [-0.05, 0.2]}, {'kind': 'rotate'}]},
        }
    )
    assert [op.kind for op in config.generator.operations] == ['stretch', 'rotate']
    problems = _problems(SI, generator={'operations': [{'kind': 'stretch', 'range': [0.2, -0.1]}]})
    assert 'reversed' in problems['generator.operations[0].range']
    problems = _problems(SI, generator={'operations': [{'kind': 'adatoms'}]})
    assert "did you mean 'adatom'" in problems['generator.operations[0]']
