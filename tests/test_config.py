"""The configuration: defaults, loading, and an error that names the field for every bad input."""

from __future__ import annotations

import copy
import json
import textwrap

import pytest
import yaml

from aiida_mlip_autopipe.config import ConfigError, MLIPConfig, load_config, parse_config

MINIMAL = {'target': {'elements': ['Si'], 'prototype': 'diamond'}}


def with_change(path: str, value, base=MINIMAL):
    """A copy of ``base`` with ``value`` at the dotted ``path`` (``None`` deletes the key)."""
    data = copy.deepcopy(base)
    keys = path.split('.')
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return data


def test_minimal_config_has_defaults():
    config = parse_config(MINIMAL)
    assert isinstance(config, MLIPConfig)
    assert config.target.composition == {'Si': 1.0}
    assert config.dft.protocol == 'fast'
    assert config.dft.pseudo_family == 'MLIPAutoPipe/Debian/LDA'
    assert config.exploration.gamma_lower < config.exploration.gamma_upper
    assert config.training.repulsion.inner_cutoff is None  # derived per pair from covalent radii
    assert 0 < config.training.kappa < 1
    # The stored form round-trips exactly.
    assert parse_config(json.loads(json.dumps(config.to_dict()))).to_dict() == config.to_dict()


def test_alloy_composition_defaults_to_equimolar():
    config = parse_config({'target': {'elements': ['Si', 'Ge'], 'prototype': 'diamond'}})
    assert config.target.composition == {'Si': 0.5, 'Ge': 0.5}
    assert config.target.is_alloy


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
    ('training.cutoff', -1, 'training.cutoff', 'greater than 1'),
    ('training.functions_per_element', 0, 'training.functions_per_element', 'greater than or equal to 1'),
    ('training.code', 'pace|x', 'training.code', 'contains'),
    ('training.optimiser', 'BFGS', 'training.optimiser', "did you mean 'optimizer'"),
    ('exploration.gamma_lower', 20.0, 'exploration', 'must be below gamma_upper'),
    ('exploration.temperatures', [-300], 'exploration.temperatures[0]', 'greater than 0'),
    ('exploration.temperatures', [], 'exploration.temperatures', 'at least 1 item'),
    ('exploration.timestep', 1.0, 'exploration.timestep', 'less than or equal to 0.01'),
    ('exploration.ensemble', 'nve', 'exploration.ensemble', "'nvt' or 'npt'"),
    ('loop.max_generations', 0, 'loop.max_generations', 'greater than or equal to 1'),
    ('loop.dft_budget', -1, 'loop.dft_budget', 'greater than or equal to 1'),
    ('loop.failure_budget', {'label_fraction': 1.5}, 'loop.failure_budget.label_fraction', 'less than or equal to 1'),
    ('loop.gamma_bounds', [5, 2], 'loop.gamma_bounds', '0 < low < high'),
    ('loop.stop_after', 3, 'loop.stop_after', 'unknown key'),
    ('name', 'my run', 'name', 'contains'),
    ('seed', -1, 'seed', 'greater than or equal to 0'),
    ('surprise', {}, 'surprise', 'unknown key'),
    ('validaton', {}, 'validaton', "did you mean 'validation'"),
]


@pytest.mark.parametrize(('path', 'value', 'field', 'fragment'), BAD, ids=[f'{b[0]}={b[1]!r}' for b in BAD])
def test_bad_config_names_the_field(path, value, field, fragment):
    data = with_change(path, value)
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    fields = [loc for loc, _, _ in info.value.problems]
    assert field in fields, info.value.format()
    if fragment is not None:
        messages = [msg for loc, _, msg in info.value.problems if loc == field]
        assert any(fragment in msg for msg in messages), info.value.format()


def test_composition_must_sum_to_one():
    with pytest.raises(ConfigError, match='sum to 0.7'):
        parse_config(with_change('target.composition', {'Si': 0.7}))


def test_error_shows_the_value_received():
    with pytest.raises(ConfigError) as info:
        parse_config(with_change('dft.ecutwfc', -30))
    assert '(got -30)' in info.value.format()


def test_several_problems_are_reported_at_once():
    data = with_change('dft.ecutwfc', -30, with_change('training.cutoff', -1))
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert {'dft.ecutwfc', 'training.cutoff'} <= {loc for loc, _, _ in info.value.problems}


def test_not_a_mapping():
    with pytest.raises(ConfigError, match='must be a mapping'):
        parse_config(['target'])


def test_load_yaml(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(MINIMAL))
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


def _config_with_file(tmp_path, name, content=None, atoms=None):
    path = tmp_path / name
    if atoms is not None:
        atoms.write(path)
    elif content is not None:
        path.write_text(content)
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({'target': {'elements': ['Si'], 'structure_file': name}}))
    return config


def test_structure_file_resolved_relative_to_config(tmp_path, si_atoms):
    config = load_config(_config_with_file(tmp_path, 'si.cif', atoms=si_atoms))
    assert config.target.structure_file == str((tmp_path / 'si.cif').resolve())


@pytest.mark.parametrize(
    ('name', 'content', 'fragment'),
    [
        ('missing.cif', None, 'not found'),
        ('empty.cif', '', 'is empty'),
        ('garbage.cif', 'this is not a cif\n', 'ASE cannot read'),
    ],
)
def test_bad_structure_files(tmp_path, name, content, fragment):
    config = _config_with_file(tmp_path, name, content=content)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.problems[0][0] == 'target.structure_file'
    assert fragment in info.value.format()


def test_structure_file_with_overlapping_atoms(tmp_path, si_atoms):
    atoms = si_atoms.copy()
    atoms.positions[1] = atoms.positions[0] + [0.1, 0, 0]
    with pytest.raises(ConfigError, match='overlapping atoms'):
        load_config(_config_with_file(tmp_path, 'overlap.extxyz', atoms=atoms))


def test_structure_file_with_wrong_element(tmp_path, si_atoms):
    atoms = si_atoms.copy()
    atoms.symbols[0] = 'Ge'
    with pytest.raises(ConfigError, match=r"contains \['Ge'\]"):
        load_config(_config_with_file(tmp_path, 'sige.extxyz', atoms=atoms))


def test_example_configs_are_valid():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[1] / 'examples').glob('**/*.yaml'))
    assert examples, 'no example configs found'
    for path in examples:
        load_config(path)


def test_error_format_is_readable():
    error = ConfigError([('dft.ecutwfc', -3, 'Input should be greater than 0')], 'c.yaml')
    assert error.format() == textwrap.dedent(
        """\
        c.yaml: 1 problem(s) in the configuration:
          - dft.ecutwfc (got -3): Input should be greater than 0"""
    )
