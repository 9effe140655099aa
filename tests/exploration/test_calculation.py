"""``LammpsCalculation``: the written input (ML-PACE production form), data file, validators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.folders import SandboxFolder
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation


def _settings(**overrides):
    settings = {
        'ensemble': 'nvt',
        'temperature': 1200.0,
        'timestep': 0.001,
        'n_steps': 400,
        'thermo_interval': 10,
        'dump_interval': 20,
        'gamma_lower': 2.0,
        'gamma_upper': 8.0,
        'seed': 4242,
    }
    settings.update(overrides)
    return orm.Dict(settings)


def _prepare(fixture_code, potential, structure, settings):
    inputs = {
        'code': fixture_code('mlip_autopipe.lammps'),
        'structure': structure,
        'potential': potential,
        'settings': settings,
        'metadata': {'options': {'resources': {'num_machines': 1}}},
    }
    process = instantiate_process(get_manager().get_runner(), LammpsCalculation, **inputs)
    folder = SandboxFolder()
    calcinfo = process.prepare_for_submission(folder)
    return folder, calcinfo


@pytest.fixture
def si_cubic():
    from ase.build import bulk

    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
    atoms.positions[0] += [0.05, -0.02, 0.01]
    return orm.StructureData(ase=atoms)


def test_nvt_input_and_data(fixture_code, si_tiny_lammps_potential, si_cubic, file_regression):
    folder, calcinfo = _prepare(fixture_code, si_tiny_lammps_potential, si_cubic, _settings())
    names = sorted(folder.get_content_list())
    assert names == [LammpsCalculation.FILENAME_INPUT, LammpsCalculation.FILENAME_DATA]
    script = Path(folder.get_abs_path(LammpsCalculation.FILENAME_INPUT)).read_text()
    # The production ML-PACE lines, literally.
    assert 'pair_style      pace/extrapolation\n' in script
    assert 'pair_coeff      * * potential.yaml potential.asi Si\n' in script
    assert 'fix             pace_gamma all pair 10 pace/extrapolation gamma 1\n' in script
    assert 'compute         max_gamma all reduce max f_pace_gamma\n' in script
    assert 'dump_modify     gamma_dump skip v_dump_skip' in script
    assert 'fix             halt all halt 10 v_max_gamma > 8.0 error continue\n' in script
    file_regression.check(script, basename='lammps_nvt_input', extension='.lammps')
    data = Path(folder.get_abs_path(LammpsCalculation.FILENAME_DATA)).read_text()
    title, rest = data.split('\n', 1)
    assert title.startswith('# Si8 from StructureData ')  # the uuid changes from run to run
    file_regression.check(rest, basename='lammps_nvt_data', extension='.data')

    copied = sorted(item[1] for item in calcinfo.local_copy_list)
    assert copied == ['potential.asi', 'potential.yace', 'potential.yaml']
    assert all(item[0] == si_tiny_lammps_potential.uuid for item in calcinfo.local_copy_list)
    assert calcinfo.retrieve_list == ['log.lammps', 'lammps.out', 'aiida_walltime.txt']
    assert calcinfo.retrieve_temporary_list == ['gamma.dump']
    codeinfo = calcinfo.codes_info[0]
    assert codeinfo.cmdline_params == ['-in', 'input.lammps', '-log', 'log.lammps', '-screen', 'none']
    assert codeinfo.stdout_name == 'lammps.out'


def test_npt_langevin_triclinic_input(fixture_code, si_tiny_lammps_potential, si_atoms, file_regression):
    settings = _settings(
        ensemble='npt',
        thermostat='langevin',
        pressure=10000.0,
        pressure_coupling='tri',
        temperature=600.0,
        temperature_end=1500.0,
        gamma_interval=5,
        dump_interval=5,
        n_steps=100,
    )
    folder, _ = _prepare(fixture_code, si_tiny_lammps_potential, orm.StructureData(ase=si_atoms), settings)
    script = Path(folder.get_abs_path(LammpsCalculation.FILENAME_INPUT)).read_text()
    assert 'fix             md all nph tri 10000.0 10000.0 1.0\n' in script
    assert 'fix             thermostat all langevin 600.0 1500.0 0.1 4242 zero yes\n' in script
    file_regression.check(script, basename='lammps_npt_langevin_input', extension='.lammps')
    data = Path(folder.get_abs_path(LammpsCalculation.FILENAME_DATA)).read_text()
    assert 'xy xz yz' in data


def test_data_file_keeps_geometry(fixture_code, si_tiny_lammps_potential, si_atoms):
    """The rotated LAMMPS cell has the same lengths, angles and interatomic distances."""
    from ase.io import read

    si_atoms.rattle(0.05, seed=3)
    folder, _ = _prepare(fixture_code, si_tiny_lammps_potential, orm.StructureData(ase=si_atoms), _settings())
    written = read(folder.get_abs_path(LammpsCalculation.FILENAME_DATA), format='lammps-data', atom_style='atomic')
    assert np.allclose(written.cell.cellpar(), si_atoms.cell.cellpar(), atol=1e-8)
    assert np.allclose(written.get_all_distances(mic=True), si_atoms.get_all_distances(mic=True), atol=1e-8)


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'n_steps': 405}, 'settings: Value error, n_steps (405) must be a multiple of gamma_interval (10)'),
        ({'gamma_lower': 9.0}, 'must be below gamma_upper'),
        ({'ensemble': 'nve'}, "settings.ensemble: Input should be 'nvt' or 'npt'"),
        ({'seed': 0}, 'settings.seed: Input should be greater than or equal to 1'),
        ({'temperatur': 300}, 'settings.temperatur: Extra inputs are not permitted'),
    ],
)
def test_settings_validator(fixture_code, si_tiny_lammps_potential, si_cubic, overrides, message):
    with pytest.raises(ValueError, match='settings') as info:
        _prepare(fixture_code, si_tiny_lammps_potential, si_cubic, _settings(**overrides))
    assert message in str(info.value)


def test_validator_elements_and_active_set(fixture_code, si_tiny_lammps_potential, tmp_path):
    from ase.build import bulk

    from aiida_mlip_autopipe.data.potential import AcePotentialData
    from tests.conftest import SI_TINY_LAMMPS

    gaas = orm.StructureData(ase=bulk('GaAs', 'zincblende', a=5.65))
    with pytest.raises(ValueError, match=r"contains \['As', 'Ga'\], which the potential \(elements \['Si'\]\)"):
        _prepare(fixture_code, si_tiny_lammps_potential, gaas, _settings())
    no_asi = AcePotentialData.from_files(SI_TINY_LAMMPS / 'potential.yaml', SI_TINY_LAMMPS / 'potential.yace').store()
    si = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    with pytest.raises(ValueError, match='has no active set'):
        _prepare(fixture_code, no_asi, si, _settings())


def test_validator_left_handed_cell(fixture_code, si_tiny_lammps_potential):
    from ase.build import bulk

    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
    atoms.set_cell(atoms.cell.array[[1, 0, 2]], scale_atoms=False)
    with pytest.raises(ValueError, match='right-handed cell'):
        _prepare(fixture_code, si_tiny_lammps_potential, orm.StructureData(ase=atoms), _settings())
