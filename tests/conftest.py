"""Shared fixtures: AiiDA's temporary profile, codes on localhost, the Debian pseudo families."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ['aiida.tools.pytest_fixtures']

TESTS = Path(__file__).parent
FIXTURES = TESTS / 'fixtures'

# MPI as root (pw.x may be linked to Open MPI) and quiet TensorFlow in subprocesses.
os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture(autouse=True, scope='module')
def process_reports_reach_the_database():
    """Put AiiDA's database log handler back after each module.

    A CLI command invoked in-process (``CliRunner``) reconfigures logging through its verbosity
    option without the ORM handler, so later processes' ``self.report`` lines would not reach
    ``verdi process report``; tests that read those lines would fail depending on module order.
    """
    yield
    from aiida.common.log import configure_logging

    configure_logging(with_orm=True)


@pytest.fixture
def fixture_code(aiida_code_installed):
    """Return a code for ``entry_point`` whose executable is a stand-in; for ``prepare_for_submission`` tests."""

    def factory(entry_point: str, executable: str = '/bin/true'):
        return aiida_code_installed(default_calc_job_plugin=entry_point, filepath_executable=executable)

    return factory


@pytest.fixture
def codes_from_setup(aiida_profile, aiida_localhost):
    """The real codes, registered the way ``aiida-mlip-autopipe setup`` registers them."""
    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    codes = {}
    for spec in default_code_specs():
        if Path(spec.executable).is_file():
            codes[spec.label] = ensure_code(spec, computer_label=aiida_localhost.label, echo=lambda _: None)
    return codes


@pytest.fixture
def pw_code(codes_from_setup):
    """The real ``pw.x`` code; skips when Quantum ESPRESSO is not installed."""
    if 'pw' not in codes_from_setup:
        pytest.skip('pw.x is not installed (apt-get install quantum-espresso)')
    return codes_from_setup['pw']


@pytest.fixture
def pseudo_families(aiida_profile):
    """The Debian UPF families with recommended cutoffs, for tests that run pw.x; installed once per test profile."""
    from aiida_mlip_autopipe import provision

    from .stand_ins import remove_stand_in_families

    if not provision.DEBIAN_PSEUDO_DIR.is_dir():
        pytest.skip('quantum-espresso-data is not installed')
    remove_stand_in_families()  # pw.x cannot run on the synthetic UPFs of ``stand_in_families``
    return provision.ensure_debian_families(pseudo_dir=provision.DEBIAN_PSEUDO_DIR, echo=lambda _: None)


@pytest.fixture
def stand_in_families(aiida_profile, tmp_path_factory):
    """The families of ``pseudo_families`` (labels, elements, cutoffs) from synthetic UPFs; needs no Quantum ESPRESSO.

    For tests of builders, inputs and profile checks that never run pw.x (see ``tests/stand_ins.py``).
    """
    from .stand_ins import install_stand_in_families

    return install_stand_in_families(tmp_path_factory.mktemp('synthetic-upf'))


@pytest.fixture
def stand_in_codes(aiida_profile, aiida_localhost):
    """``{label: code}`` for every code of ``setup`` on localhost; ``/bin/true`` for each one not installed (pw.x)."""
    from .stand_ins import stand_in_codes

    return stand_in_codes(aiida_localhost.label)


@pytest.fixture
def si_atoms():
    """Two-atom diamond Si at the LDA lattice constant."""
    from ase.build import bulk

    return bulk('Si', 'diamond', a=5.40)


@pytest.fixture
def has_executable():
    """``has_executable(name)`` is the path of an executable on PATH or None."""
    return shutil.which


#: The tiny real Si ACE potential of the LAMMPS/exploration tests (see its make_potential.py).
SI_TINY_LAMMPS = FIXTURES / 'potentials' / 'si_tiny_lammps'


@pytest.fixture
def si_tiny_lammps_potential(aiida_profile):
    """A stored ``AcePotentialData`` with the tiny real Si potential (yaml, yace, asi)."""
    from aiida_mlip_autopipe.data.potential import AcePotentialData

    return AcePotentialData.from_files(
        SI_TINY_LAMMPS / 'potential.yaml', SI_TINY_LAMMPS / 'potential.yace', SI_TINY_LAMMPS / 'potential.asi'
    ).store()


@pytest.fixture
def python_code(aiida_localhost):
    """The stage jobs' code on localhost: this environment's Python, as ``aiida-mlip-autopipe setup`` registers it."""
    import sys

    from aiida_mlip_autopipe.provision import CodeSpec, ensure_code

    spec = CodeSpec('mlip-python', sys.executable, None, 'stage jobs', prepend_text='export OMP_NUM_THREADS=1')
    return ensure_code(spec, computer_label=aiida_localhost.label, echo=lambda _: None)
