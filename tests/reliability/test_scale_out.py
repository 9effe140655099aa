"""Scale-out: PostgreSQL + RabbitMQ, a daemon with two workers, labelling spread over both, kill and resume.

Needs the services that ``bin/scale-out-profile`` installs and starts (``.ci/run`` runs it when
it can). The tests do not write into that profile: they read its database role and broker
settings, make a throwaway database next to it, and run their own daemon on a throwaway
``core.psql_dos`` + ``core.rabbitmq`` profile, which is removed afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from aiida_mlip_autopipe.labelling.config import DFTConfig
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

from .conftest import USER_AIIDA_PATH, DaemonProfile, provision_localhost, skip_without_pw
from .harness import (
    pw_calculations,
    reporting_pids,
    run_with_hard_kill,
    run_with_kill_in_phase,
    stop_daemon,
    wait_for,
    worker_pids,
    write_summary,
)
from .test_kill_resume import (
    PHASE_KILLS,
    RUNS,
    assert_loop_went_on_once,
    assert_resumed_in_phase,
    assert_resumed_without_recomputation,
    labels_lost_to_the_kill,
    phase_config,
    phase_run,
)

pytestmark = [pytest.mark.services, pytest.mark.integration, pytest.mark.slow]

SCALE_OUT_PROFILE = os.environ.get('MLIP_SCALE_OUT_PROFILE', 'mlip-scale-out')
WORKERS = 2
SCALE_OUT = 'scale-out (core.psql_dos + core.rabbitmq)'


def _user_config_dir() -> Path:
    path = Path(USER_AIIDA_PATH).expanduser()
    return path if path.name == '.aiida' else path / '.aiida'


def scale_out_settings() -> dict:
    """The storage and broker settings of the scale-out profile; skip with the reason when unusable."""
    config_file = _user_config_dir() / 'config.json'
    hint = 'run `bash bin/scale-out-profile` to install and start PostgreSQL and RabbitMQ'
    if not config_file.is_file():
        pytest.skip(f'no AiiDA configuration at {config_file}; {hint}')
    profiles = json.loads(config_file.read_text()).get('profiles', {})
    profile = profiles.get(SCALE_OUT_PROFILE)
    if profile is None:
        pytest.skip(f'no profile {SCALE_OUT_PROFILE!r} in {config_file}; {hint}')
    storage, broker = profile['storage'], profile.get('process_control', {})
    if storage.get('backend') != 'core.psql_dos' or broker.get('backend') != 'core.rabbitmq':
        pytest.skip(f'profile {SCALE_OUT_PROFILE!r} is not core.psql_dos + core.rabbitmq')
    db, amqp = storage['config'], broker['config']
    for host, port, what in (
        (db['database_hostname'], int(db['database_port']), 'PostgreSQL'),
        (amqp['broker_host'], int(amqp['broker_port']), 'RabbitMQ'),
    ):
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError:
            pytest.skip(f'{what} is not running at {host}:{port}; {hint}')
    return {'storage': db, 'broker': amqp}


def _admin_connection(db: dict):
    import psycopg

    return psycopg.connect(
        host=db['database_hostname'],
        port=db['database_port'],
        user=db['database_username'],
        password=db['database_password'],
        dbname='postgres',
        autocommit=True,
        connect_timeout=5,
    )


def _delete_queues(broker: dict, profile_uuid: str) -> None:
    """Remove the durable RabbitMQ queues AiiDA made for the throwaway profile (deleting a missing one is fine)."""
    import asyncio
    import threading

    import aio_pika

    async def delete() -> None:
        connection = await aio_pika.connect(
            host=broker['broker_host'],
            port=int(broker['broker_port']),
            login=broker['broker_username'],
            password=broker['broker_password'],
            virtualhost=broker.get('broker_virtual_host') or '/',
        )
        async with connection:
            channel = await connection.channel()
            for suffix in ('process.queue', 'rpc.queue', 'broadcast.queue'):
                await channel.queue_delete(f'aiida-{profile_uuid}.{suffix}')

    # A thread of its own: the test process may already run an event loop for AiiDA.
    thread = threading.Thread(target=lambda: asyncio.run(delete()))
    thread.start()
    thread.join(30)


@pytest.fixture(scope='module')
def scale_out_profile(aiida_config, aiida_profile_factory, tmp_path_factory):
    """A throwaway PostgreSQL + RabbitMQ profile with a two-worker daemon, on the scale-out services."""
    skip_without_pw()
    settings = scale_out_settings()
    from aiida.engine.daemon.client import get_daemon_client

    db = settings['storage']
    name = f'mlip_test_{secrets.token_hex(6)}'
    with _admin_connection(db) as connection:
        connection.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
        )
    storage_config = {
        **{key: db[key] for key in ('database_engine', 'database_hostname', 'database_port', 'database_username')},
        'database_password': db['database_password'],
        'database_name': name,
        'repository_uri': f'file://{tmp_path_factory.mktemp("scale-out-repository")}',
    }
    profile_uuid = None
    try:
        with aiida_profile_factory(
            aiida_config,
            storage_backend='core.psql_dos',
            storage_config=storage_config,
            broker_backend='core.rabbitmq',
            broker_config=settings['broker'],
        ) as profile:
            profile_uuid = profile.uuid
            for option, value in (('runner.poll.interval', 1), ('warnings.rabbitmq_version', False)):
                aiida_config.set_option(option, value, scope=profile.name)
            aiida_config.store()
            code = provision_localhost(tmp_path_factory.mktemp('scale-out-work'))
            client = get_daemon_client(profile.name)
            client.start_daemon(number_workers=WORKERS)
            try:
                wait_for(lambda: len(worker_pids(client)) == WORKERS, 60, f'{WORKERS} daemon workers')
                yield DaemonProfile(profile, client, code, WORKERS)
            finally:
                stop_daemon(client)
    finally:
        from aiida.manage import get_manager

        get_manager().reset_profile_storage()
        with _admin_connection(db) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if profile_uuid is not None:
            _delete_queues(settings['broker'], profile_uuid)


def test_scale_out_profile_is_ready():
    """What ``bin/scale-out-profile`` leaves behind: its profile works and is not the default."""
    scale_out_settings()
    env = {**os.environ, 'AIIDA_PATH': str(_user_config_dir())}
    status = subprocess.run(
        ['verdi', '-p', SCALE_OUT_PROFILE, 'status'], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert 'storage:' in status.stdout and 'postgresql' in status.stdout, status.stdout + status.stderr
    assert 'RabbitMQ' in status.stdout, status.stdout
    profiles = subprocess.run(
        ['verdi', 'profile', 'list'], check=False, env=env, capture_output=True, text=True, timeout=120
    ).stdout
    assert f'* {SCALE_OUT_PROFILE}' not in profiles


def test_labelling_spreads_over_two_workers(scale_out_profile, si_cells):
    structures = si_cells(8, seed=50)
    builder = LabellingWorkChain.get_builder_from_protocol(
        scale_out_profile.pw_code, structures, dft=DFTConfig(kpoints_distance=0.5, max_concurrent=2)
    )
    from aiida.engine import submit

    node = submit(builder)
    wait_for(lambda: node.is_terminated, 600, f'LabellingWorkChain<{node.pk}>', interval=1)
    assert node.is_finished_ok, f'[{node.exit_status}] {node.exit_message}'
    assert node.outputs.training_set.num_frames == 8
    calcs = pw_calculations(node)
    assert len(calcs) == 8 and all(calc.is_finished_ok for calc in calcs)

    workers = set(worker_pids(scale_out_profile.client))
    chains = [calc.caller for calc in calcs]
    by_worker: dict[int, int] = {}
    for chain in chains:
        pids = reporting_pids(chain)
        assert len(pids) == 1 and pids <= workers, pids  # one worker ran each PwBaseWorkChain, start to end
        (pid,) = pids
        by_worker[pid] = by_worker.get(pid, 0) + 1
    assert len(by_worker) == WORKERS, f'all PwBaseWorkChains ran on one worker: {by_worker}'
    write_summary(
        'scale_out',
        {'structures': 8, 'workers': WORKERS, 'pw_base_work_chains_per_worker': sorted(by_worker.values())},
    )


@pytest.mark.parametrize('run', sorted(RUNS))
def test_kill_workers_and_restart_daemon_on_scale_out(scale_out_profile, si_cells, run):
    structures = si_cells(4, seed=60)
    builder, expected_pw = RUNS[run](scale_out_profile.pw_code, structures)
    node, record = run_with_hard_kill(
        builder, scale_out_profile.client, mode='restart', number_workers=WORKERS, timeout=300
    )
    lost = labels_lost_to_the_kill(node) if node.is_finished_ok else []
    assert_resumed_without_recomputation(node, record, expected_pw)
    if run == 'active_learning':
        assert_loop_went_on_once(node, expected_pw, lost)
    write_summary('kill_resume', {'profile': SCALE_OUT, 'run': run, 'labels_lost': lost, **record.to_dict()})


#: The phases killed on this profile too: a pacemaker fit and a LAMMPS MD of generation 0 (``PHASE_KILLS``).
SCALE_OUT_PHASES = ('training', 'md')


@pytest.mark.parametrize('case', SCALE_OUT_PHASES)
def test_kill_in_phase_and_restart_daemon_on_scale_out(scale_out_profile, case):
    """The loop killed (every worker, then ``verdi daemon restart``) while its fit or its MD runs, resumed."""
    phase, generation, _, changes = PHASE_KILLS[case]
    config = phase_config(**changes)
    node, record = run_with_kill_in_phase(
        phase_run(scale_out_profile.pw_code, config),
        scale_out_profile.client,
        phase=phase,
        generation=generation,
        mode='restart',
        number_workers=WORKERS,
        timeout=400,
    )
    assert_resumed_in_phase(node, record, config)
    write_summary('kill_phase', {'profile': SCALE_OUT, 'case': case, **record.to_dict()})
