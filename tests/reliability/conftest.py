"""Fixtures of the reliability tests: a throwaway profile with a real daemon, Si cells that label in seconds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The AiiDA configuration folder of the user, as it was before the test session replaced it
#: with a temporary one; the scale-out profile made by ``bin/scale-out-profile`` lives there.
USER_AIIDA_PATH = os.environ.get('MLIP_SCALE_OUT_AIIDA_PATH') or os.environ.get('AIIDA_PATH') or str(Path.home())


@dataclass
class DaemonProfile:
    """A loaded profile whose daemon the test may kill, with the codes of ``aiida-mlip-autopipe setup``."""

    profile: object
    client: object
    pw_code: object
    number_workers: int


def provision_localhost(workdir: Path):
    """The ``localhost`` computer (no poll delay), the pw code and the Debian pseudo families in the loaded profile."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code, ensure_debian_families

    try:
        computer = orm.load_computer('localhost')
    except NotExistent:
        computer = orm.Computer(
            label='localhost',
            hostname='localhost',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(workdir),
        ).store()
        computer.set_minimum_job_poll_interval(0)
        computer.set_default_mpiprocs_per_machine(1)
    computer.configure(safe_interval=0)
    spec = next(s for s in default_code_specs() if s.label == 'pw')
    code = ensure_code(spec, computer_label='localhost', echo=lambda _: None)
    ensure_debian_families(echo=lambda _: None)
    return code


def skip_without_pw() -> None:
    """Skip when pw.x or the Debian pseudopotentials are missing (where ``provision`` looks for them)."""
    from aiida_mlip_autopipe import provision

    pw = next(spec for spec in provision.default_code_specs() if spec.label == 'pw')
    if not Path(pw.executable).is_file():
        pytest.skip('pw.x is not installed (apt-get install quantum-espresso)')
    if not provision.DEBIAN_PSEUDO_DIR.is_dir():
        pytest.skip('quantum-espresso-data is not installed')


@pytest.fixture(scope='module')
def daemon_profile(aiida_config, aiida_profile_factory, tmp_path_factory):
    """A throwaway ``core.sqlite_dos`` profile with the ``core.zeromq`` broker that its daemon supervises.

    This is what ``verdi presto`` makes, the default profile of a user. The session's own test
    profile has no broker, so no daemon can run on it. The profile is loaded for the module and the
    session's profile comes back afterwards; the daemon is stopped at the end.
    """
    skip_without_pw()
    from aiida.engine.daemon.client import get_daemon_client

    from .harness import stop_daemon

    with aiida_profile_factory(aiida_config, broker_backend='core.zeromq') as profile:
        aiida_config.set_option('runner.poll.interval', 1, scope=profile.name)
        aiida_config.store()
        code = provision_localhost(tmp_path_factory.mktemp('daemon-work'))
        client = get_daemon_client(profile.name)
        client.start_daemon(number_workers=1)
        try:
            yield DaemonProfile(profile, client, code, 1)
        finally:
            stop_daemon(client)


@pytest.fixture
def si_cells():
    """``make(n)``: n distinct 2-atom Si cells (strained, rattled), each labelled by pw.x in a few seconds."""
    from aiida import orm
    from ase.build import bulk

    def make(count: int, seed: int = 0) -> dict[str, orm.StructureData]:
        cells = {}
        for i in range(count):
            atoms = bulk('Si', 'diamond', a=5.40 * (1 + 0.01 * ((i % 5) - 2)))
            atoms.rattle(0.03, seed=seed + i)
            cells[f's{i:02d}'] = orm.StructureData(ase=atoms)
        return cells

    return make
