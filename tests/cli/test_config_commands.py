"""CLI: validate and schema."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cmd_root


@pytest.fixture
def runner():
    return CliRunner()


def _write(tmp_path, data):
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_help_lists_commands(runner):
    result = runner.invoke(cmd_root, ['--help'])
    assert result.exit_code == 0
    for command in ('setup', 'validate', 'schema', 'run', 'status', 'report', 'export'):
        assert re.search(rf'^\s+{command}\s', result.output, re.MULTILINE), command


def test_export_help_lists_its_formats(runner):
    from aiida_mlip_autopipe.cli.run import cmd_export

    (option,) = [p for p in cmd_export.params if p.name == 'fmt']
    result = runner.invoke(cmd_root, ['export', '--help'])
    assert result.exit_code == 0, result.output
    assert f'--format [{"|".join(option.type.choices)}]' in result.output


def test_validate_typo_names_key_and_suggestion(runner, tmp_path, aiida_profile):
    path = _write(tmp_path, {'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'dft': {'kpoint_distance': 0.3}})
    result = runner.invoke(cmd_root, ['validate', '--no-profile-checks', path])
    assert result.exit_code == 1
    assert "dft.kpoint_distance: unknown key 'kpoint_distance'; did you mean 'kpoints_distance'?" in result.output


def test_validate_good_config_prints_summary(runner, tmp_path, aiida_profile):
    path = _write(tmp_path, {'name': 'sige', 'target': {'elements': ['Si', 'Ge'], 'prototype': 'diamond'}})
    result = runner.invoke(cmd_root, ['validate', '--no-profile-checks', path])
    assert result.exit_code == 0, result.output
    assert "Configuration 'sige' is valid." in result.output
    assert 'Si-Ge (Si 0.5, Ge 0.5), diamond' in result.output
    assert '(SQS)' in result.output


def test_validate_checks_pseudos_in_profile(runner, tmp_path, stand_in_families, stand_in_codes):
    # Ge has no pseudopotential in the Debian LDA family.
    path = _write(tmp_path, {'target': {'elements': ['Si', 'Ge'], 'prototype': 'diamond'}})
    result = runner.invoke(cmd_root, ['validate', path])
    assert result.exit_code == 1
    assert (
        "dft.pseudo_family (got 'MLIPAutoPipe/Debian/LDA'): family has no pseudopotential for ['Ge']" in result.output
    )
    path = _write(
        tmp_path,
        {
            'target': {'elements': ['Si', 'Ge'], 'prototype': 'diamond'},
            'dft': {'pseudo_family': 'MLIPAutoPipe/Debian/PBE'},
        },
    )
    result = runner.invoke(cmd_root, ['validate', path])
    assert result.exit_code == 0, result.output
    assert 'pseudo_family' not in result.output


def test_validate_unknown_family_and_code(runner, tmp_path, stand_in_families):
    data = {
        'target': {'elements': ['Si'], 'prototype': 'diamond'},
        'dft': {'pseudo_family': 'Nope', 'code': 'pw@nowhere'},
    }
    result = runner.invoke(cmd_root, ['validate', _write(tmp_path, data)])
    assert result.exit_code == 1
    assert 'dft.pseudo_family' in result.output and 'no such pseudopotential family' in result.output
    assert 'dft.code' in result.output


def test_validate_missing_file(runner, tmp_path):
    result = runner.invoke(cmd_root, ['validate', '--no-profile-checks', str(tmp_path / 'none.yaml')])
    assert result.exit_code == 1
    assert 'config file not found' in result.output


def test_schema_is_json_schema(runner):
    result = runner.invoke(cmd_root, ['schema'])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema['title'] == 'MLIPConfig'
    assert {'target', 'dft', 'training', 'exploration', 'loop'} <= set(schema['properties'])
