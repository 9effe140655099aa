"""Caching of the DFT step: the same labels asked for twice cost pw.x once.

Caching is switched on the way a user does it (``aiida-mlip-autopipe setup --caching``, which
sets ``caching.enabled_for`` of the profile), not with a test-only context manager.
"""

from __future__ import annotations

import pytest
from aiida.engine import run_get_node
from click.testing import CliRunner

from aiida_mlip_autopipe.caching import DFT_CACHING_IDENTIFIERS, dft_caching_enabled, set_dft_caching
from aiida_mlip_autopipe.cli import cmd_root
from aiida_mlip_autopipe.labelling.config import DFTConfig
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

from .harness import pw_calculations, write_summary

PW = DFT_CACHING_IDENTIFIERS[0]
OPTIONS = ('caching.default_enabled', 'caching.enabled_for', 'caching.disabled_for')


@pytest.fixture
def restore_caching(aiida_profile):
    """Put the profile's caching options back as they were after the test."""
    from aiida.manage.configuration import get_config

    config = get_config()
    profile = config.get_profile(aiida_profile.name)
    before = {name: profile.options.get(name) for name in OPTIONS}
    yield config
    for name, value in before.items():
        if value is None:
            config.unset_option(name, scope=aiida_profile.name)
        else:
            config.set_option(name, value, scope=aiida_profile.name)
    config.store()


def _options(config, profile_name):
    return {name: config.get_option(name, scope=profile_name) for name in OPTIONS}


def test_setup_caching_flag_is_idempotent(aiida_profile, aiida_localhost, restore_caching):
    config = restore_caching
    runner = CliRunner()
    config.set_option('caching.enabled_for', ['aiida.calculations:core.arithmetic.add'], scope=aiida_profile.name)
    first = runner.invoke(cmd_root, ['setup', '--skip-families', '--caching'])
    assert 'caching of pw.x runs switched on' in first.output, first.output
    assert dft_caching_enabled()
    after_first = _options(config, aiida_profile.name)
    # Other entries are kept; pw appears once however often setup runs.
    assert after_first['caching.enabled_for'] == ['aiida.calculations:core.arithmetic.add', PW]
    second = runner.invoke(cmd_root, ['setup', '--skip-families', '--caching'])
    assert 'caching of pw.x runs already on' in second.output
    assert _options(config, aiida_profile.name) == after_first
    off = runner.invoke(cmd_root, ['setup', '--skip-families', '--no-caching'])
    assert 'caching of pw.x runs switched off' in off.output
    assert not dft_caching_enabled()
    assert config.get_option('caching.enabled_for', scope=aiida_profile.name) == [
        'aiida.calculations:core.arithmetic.add'
    ]
    # Without the flag, setup leaves caching alone.
    runner.invoke(cmd_root, ['setup', '--skip-families'])
    assert not dft_caching_enabled()


def test_no_caching_overrides_default_enabled(aiida_profile, restore_caching):
    config = restore_caching
    config.set_option('caching.default_enabled', True, scope=aiida_profile.name)
    assert dft_caching_enabled()
    assert set_dft_caching(False)
    assert not dft_caching_enabled()
    assert config.get_option('caching.disabled_for', scope=aiida_profile.name) == [PW]
    assert set_dft_caching(True)
    assert dft_caching_enabled()
    assert config.get_option('caching.disabled_for', scope=aiida_profile.name) == []


def _label(code, structures):
    builder = LabellingWorkChain.get_builder_from_protocol(
        code, structures, dft=DFTConfig(kpoints_distance=0.5, max_concurrent=2)
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return node, {
        frame.info['structure_uuid']: frame.get_potential_energy() for frame in results['training_set'].get_frames()
    }


@pytest.mark.integration
def test_second_labelling_runs_no_pw(pw_code, pseudo_families, si_cells, restore_caching):
    structures = si_cells(2, seed=30)
    CliRunner().invoke(cmd_root, ['setup', '--skip-families', '--caching'])
    assert dft_caching_enabled()

    first, energies = _label(pw_code, structures)
    first_calcs = pw_calculations(first)
    assert len(first_calcs) == 2

    # Same structures, same settings: every PwCalculation is a copy of one of the first run.
    second, cached_energies = _label(pw_code, structures)
    second_calcs = pw_calculations(second)
    assert len(second_calcs) == 2
    assert all(calc.base.caching.is_created_from_cache for calc in second_calcs)
    sources = {calc.base.caching.get_cache_source() for calc in second_calcs}
    assert sources == {calc.uuid for calc in first_calcs}
    # No pw.x ran: the copies point at the remote folders of the first run, and the labels are identical.
    assert {c.outputs.remote_folder.get_remote_path() for c in second_calcs} == {
        c.outputs.remote_folder.get_remote_path() for c in first_calcs
    }
    assert cached_energies == energies

    # Caching off: the same request runs pw.x again.
    CliRunner().invoke(cmd_root, ['setup', '--skip-families', '--no-caching'])
    third, fresh_energies = _label(pw_code, structures)
    third_calcs = pw_calculations(third)
    assert len(third_calcs) == 2
    assert not any(calc.base.caching.is_created_from_cache for calc in third_calcs)
    assert {c.outputs.remote_folder.get_remote_path() for c in third_calcs}.isdisjoint(
        {c.outputs.remote_folder.get_remote_path() for c in first_calcs}
    )
    assert fresh_energies == pytest.approx(energies, abs=1e-5)
    write_summary(
        'caching',
        {
            'structures': len(structures),
            'pw_runs_first': sum(not c.base.caching.is_created_from_cache for c in first_calcs),
            'pw_runs_cached_repeat': sum(not c.base.caching.is_created_from_cache for c in second_calcs),
            'pw_runs_uncached_repeat': sum(not c.base.caching.is_created_from_cache for c in third_calcs),
        },
    )
