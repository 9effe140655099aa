"""CLI ``setup`` and the provisioning behind it: idempotent, no duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cmd_root
from aiida_mlip_autopipe.provision import DEBIAN_PSEUDO_DIR, CodeSpec, ensure_code


def _counts():
    codes = orm.QueryBuilder().append(orm.InstalledCode).count()
    groups = orm.QueryBuilder().append(orm.Group, filters={'type_string': 'pseudo.family.cutoffs'}).count()
    return codes, groups


@pytest.mark.skipif(not DEBIAN_PSEUDO_DIR.is_dir(), reason='quantum-espresso-data is not installed')
def test_setup_twice_creates_nothing_new(aiida_profile_clean, aiida_localhost):
    runner = CliRunner()
    first = runner.invoke(cmd_root, ['setup'])
    assert 'created pseudopotential family MLIPAutoPipe/Debian/LDA' in first.output
    after_first = _counts()
    second = runner.invoke(cmd_root, ['setup'])
    assert second.exit_code == first.exit_code
    assert 'created' not in second.output
    assert _counts() == after_first
    family = orm.load_group('MLIPAutoPipe/Debian/LDA')
    assert family.get_recommended_cutoffs(elements=('Si',), unit='Ry') == (24.0, 96.0)
    assert family.get_pseudo('Si').filename == 'Si.pz-vbc.UPF'


def test_setup_unknown_computer(aiida_profile):
    result = CliRunner().invoke(cmd_root, ['setup', '--computer', 'nowhere'])
    assert result.exit_code == 1
    assert "computer 'nowhere' does not exist" in result.output


def test_code_with_vanished_executable_is_replaced(aiida_profile, aiida_localhost, tmp_path):
    exe = tmp_path / 'tool'
    exe.write_text('#!/bin/sh\n')
    spec = CodeSpec('tool', str(exe), 'core.arithmetic.add', 'a tool')
    first = ensure_code(spec, aiida_localhost.label, echo=lambda _: None)
    assert ensure_code(spec, aiida_localhost.label, echo=lambda _: None).pk == first.pk
    other = tmp_path / 'tool2'
    other.write_text('#!/bin/sh\n')
    exe.unlink()
    second = ensure_code(
        CodeSpec('tool', str(other), 'core.arithmetic.add', 'a tool'), aiida_localhost.label, echo=lambda _: None
    )
    assert second.pk != first.pk
    assert orm.load_node(first.pk).label == f'tool-stale-{first.pk}'
    assert orm.load_code(f'tool@{aiida_localhost.label}').pk == second.pk


def test_code_missing_executable_is_a_clear_error(aiida_profile, aiida_localhost):
    with pytest.raises(FileNotFoundError, match='not found; install it first'):
        ensure_code(CodeSpec('x', '/nonexistent/x', 'core.arithmetic.add', ''), aiida_localhost.label)


def test_hand_made_code_is_never_replaced(aiida_profile, aiida_localhost):
    code = orm.InstalledCode(computer=aiida_localhost, filepath_executable='/bin/true', label='mine').store()
    spec = CodeSpec('mine', '/bin/sh', 'core.arithmetic.add', 'different')
    assert Path('/bin/sh').is_file()
    assert ensure_code(spec, aiida_localhost.label, echo=lambda _: None).pk == code.pk


def test_local_job_polling_is_tuned_once(aiida_profile, aiida_localhost):
    """Issue 9: set-up polls jobs on this machine every 0.2 s (AiiDA: 10 s); a second call changes nothing."""
    from aiida_mlip_autopipe.provision import LOCAL_JOB_POLL_INTERVAL, tune_local_polling

    aiida_localhost.set_minimum_job_poll_interval(10.0)
    messages = []
    assert tune_local_polling(aiida_localhost.label, echo=messages.append) is True
    assert aiida_localhost.get_minimum_job_poll_interval() == LOCAL_JOB_POLL_INTERVAL
    assert tune_local_polling(aiida_localhost.label, echo=messages.append) is False
    assert 'changed' in messages[0] and 'changed' not in messages[1]


def test_remote_computer_polling_is_left_alone(aiida_profile):
    from aiida_mlip_autopipe.provision import tune_local_polling

    computer = orm.Computer(
        label='remote-x', hostname='example.org', transport_type='core.ssh', scheduler_type='core.slurm', workdir='/tmp'
    ).store()
    computer.set_minimum_job_poll_interval(30.0)
    assert tune_local_polling('remote-x', echo=lambda _: None) is False
    assert computer.get_minimum_job_poll_interval() == 30.0
