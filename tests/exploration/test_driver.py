"""``mlip-autopipe-lammps``: command support table, loud failures, and real LAMMPS + pyace runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiida_mlip_autopipe.exploration.driver import commands, force_field, main
from aiida_mlip_autopipe.exploration.driver.commands import UnsupportedCommand, read_script
from aiida_mlip_autopipe.exploration.driver.main import parse_arguments
from aiida_mlip_autopipe.exploration.driver.translator import InputTranslator
from aiida_mlip_autopipe.exploration.lammps_input import MDSettings, write_data_file, write_input_script
from aiida_mlip_autopipe.exploration.lammps_output import parse_log, read_dump

POTENTIAL = Path(__file__).parents[1] / 'fixtures' / 'potentials' / 'si_tiny_lammps'
EXE = str(Path(sys.executable).parent / 'mlip-autopipe-lammps')


@pytest.fixture
def workdir(tmp_path):
    for name in ('potential.yaml', 'potential.yace', 'potential.asi'):
        shutil.copy(POTENTIAL / name, tmp_path / name)
    return tmp_path


def _translator(workdir: Path) -> InputTranslator:
    translator = InputTranslator(workdir=workdir, cutoff_of=lambda _: 5.0)
    for number, command in enumerate(['units metal', 'atom_style atomic', 'boundary p p p', 'read_data s.data'], 1):
        translator.translate(number, command)
    return translator


def test_production_input_translates(workdir):
    script = write_input_script(MDSettings(temperature=300.0, n_steps=100), ['Si'])
    translator = InputTranslator(workdir=workdir, cutoff_of=lambda _: 5.0)
    plan = [translator.translate(n, c) for n, c in read_script(script)]
    flat = [c for commands in plan for c in commands]
    assert 'pair_style zero 5' in flat
    assert 'fix mlip_ace all external pf/callback 1 1' in flat
    assert 'fix_modify mlip_ace energy yes virial yes' in flat
    assert 'fix pace_gamma all store/state 10 d_mlip_gamma' in flat
    # Everything else reaches LAMMPS as written.
    assert 'compute         max_gamma all reduce max f_pace_gamma' in flat
    assert 'fix             halt all halt 10 v_max_gamma > 10.0 error continue' in flat
    assert translator.gamma_fix == 'pace_gamma' and translator.gamma_every == 10
    assert translator.potential.elements == ['Si']


@pytest.mark.parametrize(
    ('command', 'reason'),
    [
        ('kspace_style ewald 1e-4', "command 'kspace_style': not in the supported command table"),
        ('include more.in', 'put the included commands into the input file'),
        ('jump SELF loop', 'loops and jumps are not supported'),
        ('shell rm -rf x', 'shell commands are not supported'),
        ('log other.log', 'the run writes one log'),
        ('fix 1 all external pf/callback 1 1', 'fix external is how the driver applies ACE forces'),
        ('fix 1 all qeq/reaxff 1 0 10 1e-6 reaxff', "fix style 'qeq/reaxff' is not in the supported table"),
        ('fix 1 all ${style}', 'variable substitution in a fix style'),
        ('compute 1 all pe/atom', 'fix external gives no per-atom energy or virial'),
        ('compute g all pace/extrapolation', 'use "fix ID all pair N pace/extrapolation gamma 1"'),
        ('variable a python f', "variable style 'python'"),
        ('dump 1 all netcdf 10 x.nc id', "dump style 'netcdf'"),
        ('pair_style lj/cut 2.5', "pair style 'lj/cut': only pace and pace/extrapolation"),
        ('package omp 4', 'accelerator packages are not supported'),
        ('fix 1 all box/relax iso 0.0', 'relax the cell with NPT MD'),
    ],
)
def test_unsupported_commands_fail_loudly(workdir, command, reason):
    translator = _translator(workdir)
    with pytest.raises(UnsupportedCommand) as info:
        translator.translate(7, command)
    assert info.value.line_number == 7
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ('commands', 'reason'),
    [
        (['units real'], 'only "units metal"'),
        (['boundary p p f'], 'only fully periodic boxes'),
        (['atom_style charge'], 'only "atom_style atomic"'),
        (['pair_style pace/extrapolation', 'pair_coeff * * potential.yace potential.asi Si'], 'B-basis YAML'),
        (['pair_style pace/extrapolation', 'pair_coeff 1 1 potential.yaml potential.asi Si'], 'pair_coeff * *'),
        (['pair_style pace/extrapolation', 'pair_coeff * * missing.yaml potential.asi Si'], 'not found'),
        (
            ['pair_style pace', 'pair_coeff * * potential.yace Si', 'fix g all pair 10 pace/extrapolation gamma 1'],
            'fix pair needs pair_style pace/extrapolation',
        ),
        (
            [
                'pair_style pace/extrapolation',
                'pair_coeff * * potential.yaml potential.asi Si',
                'fix g all pair 10 pace/extrapolation gamma 0',
            ],
            'gamma 1',
        ),
        (
            [
                'pair_style pace/extrapolation',
                'pair_coeff * * potential.yaml potential.asi Si',
                'fix g all pair 10 pace/extrapolation gamma 1',
                'fix_modify g every 5',
            ],
            'fix_modify of the gamma fix',
        ),
    ],
)
def test_inconsistent_inputs_fail_loudly(workdir, commands, reason):
    translator = _translator(workdir)
    with pytest.raises(UnsupportedCommand, match='unsupported input') as info:
        for number, command in enumerate(commands, start=10):
            translator.translate(number, command)
    assert reason in str(info.value)


def test_pair_coeff_before_box(workdir):
    translator = InputTranslator(workdir=workdir, cutoff_of=lambda _: 5.0)
    translator.translate(1, 'units metal')
    translator.translate(2, 'pair_style pace/extrapolation')
    with pytest.raises(UnsupportedCommand, match='before the simulation box'):
        translator.translate(3, 'pair_coeff * * potential.yaml potential.asi Si')


def test_read_script_comments_and_continuations():
    text = 'units metal # comment\n\nprint "a # not a comment" &\n  universe no\n# only a comment\nrun 10'
    assert read_script(text) == [(1, 'units metal'), (3, 'print "a # not a comment"    universe no'), (6, 'run 10')]
    with pytest.raises(UnsupportedCommand, match='triple-quoted'):
        read_script('print """\nhello\n"""')


def test_command_line():
    args = parse_arguments(['-in', 'in.lmp', '-log', 'x.log', '-screen', 'none', '-var', 'T', '300', '-nocite'])
    assert (str(args.input), args.log, args.screen, args.variables, args.nocite) == (
        'in.lmp',
        'x.log',
        'none',
        [('T', ['300'])],
        True,
    )
    with pytest.raises(commands.DriverError, match="unsupported command-line flag '-sf'"):
        parse_arguments(['-in', 'x', '-sf', 'omp'])
    with pytest.raises(commands.DriverError, match='no input file'):
        parse_arguments(['-log', 'x'])


def _write_inputs(workdir: Path, atoms, settings: MDSettings, extra: str = '') -> None:
    (workdir / 'structure.data').write_text(
        write_data_file(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, ['Si'])
    )
    (workdir / 'input.lammps').write_text(write_input_script(settings, ['Si']) + extra)


def _run(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, '-in', 'input.lammps', '-log', 'log.lammps', '-screen', 'none'],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.integration
def test_unsupported_input_runs_nothing(workdir):
    from ase.build import bulk

    _write_inputs(
        workdir,
        bulk('Si', 'diamond', a=5.43, cubic=True),
        MDSettings(temperature=300.0, n_steps=10),
        extra='kspace_style ewald 1e-4\n',
    )
    result = _run(workdir)
    assert result.returncode == 2
    assert 'unsupported input at line 34' in result.stderr
    log = (workdir / 'log.lammps').read_text()
    assert log.startswith('ERROR: mlip-autopipe-lammps: unsupported input at line 34')
    assert not (workdir / 'gamma.dump').exists()


@pytest.mark.integration
def test_energy_forces_virial_match_pyace(workdir):
    """``run 0`` on a compressed, rattled, triclinic cell: LAMMPS' pe, press and forces are pyace's."""
    from ase.build import bulk
    from pyace import PyACECalculator

    atoms = bulk('Si', 'diamond', a=5.2) * (2, 1, 1)
    atoms.rattle(0.08, seed=5)
    (workdir / 'structure.data').write_text(
        write_data_file(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, ['Si'], triclinic=True)
    )
    (workdir / 'input.lammps').write_text(
        'units metal\natom_style atomic\nboundary p p p\nread_data structure.data\n'
        'pair_style pace/extrapolation\npair_coeff * * potential.yaml potential.asi Si\n'
        'fix g all pair 1 pace/extrapolation gamma 1\ncompute gmax all reduce max f_g\n'
        'thermo_style custom step pe press pxx pyy pzz pxy pxz pyz c_gmax\nthermo_modify format float %.12g\n'
        'dump d all custom 1 forces.dump id type x y z fx fy fz f_g\ndump_modify d sort id format float %.12g\n'
        'run 0\n'
    )
    result = _run(workdir)
    assert result.returncode == 0, result.stderr
    log = parse_log((workdir / 'log.lammps').read_text())
    row = dict(zip(log.columns, log.rows[0], strict=True))
    frame = read_dump(workdir / 'forces.dump')[0]

    calc = PyACECalculator(str(workdir / 'potential.yaml'))
    calc.set_active_set(str(workdir / 'potential.asi'))
    # The same structure in LAMMPS' orientation, atoms in id order.
    from ase import Atoms

    probe = Atoms('Si' * len(atoms), positions=frame.positions, cell=frame.cell, pbc=True)
    probe.calc = calc
    energy = probe.get_potential_energy()
    stress = probe.get_stress(voigt=False)
    bar = 1.602176634e6  # eV/Å^3 to bar
    assert row['pe'] == pytest.approx(energy, abs=1e-8)
    assert row['press'] == pytest.approx(-np.trace(stress) / 3 * bar, rel=1e-7)
    assert row['pxy'] == pytest.approx(-stress[0, 1] * bar, rel=1e-6, abs=1e-3)
    assert row['pyz'] == pytest.approx(-stress[1, 2] * bar, rel=1e-6, abs=1e-3)
    forces = np.column_stack([frame.columns['fx'], frame.columns['fy'], frame.columns['fz']])
    assert np.allclose(forces, probe.get_forces(), atol=1e-8)
    assert np.allclose(frame.columns['f_g'], calc.results['gamma'], atol=1e-8)
    assert row['c_gmax'] == pytest.approx(calc.results['gamma'].max())
    # The rotation into LAMMPS' frame kept every distance.
    assert np.allclose(
        np.sort(probe.get_all_distances(mic=True).ravel()),
        np.sort(atoms.get_all_distances(mic=True).ravel()),
        atol=1e-7,
    )


@pytest.mark.integration
def test_npt_triclinic_langevin_runs(workdir):
    from ase.build import bulk

    settings = MDSettings(
        ensemble='npt',
        thermostat='langevin',
        pressure_coupling='tri',
        pressure=0.0,
        temperature=600.0,
        n_steps=200,
        gamma_upper=1e6,
    )
    atoms = bulk('Si', 'diamond', a=5.43)
    (workdir / 'structure.data').write_text(
        write_data_file(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, ['Si'], triclinic=True)
    )
    (workdir / 'input.lammps').write_text(write_input_script(settings, ['Si']))
    result = _run(workdir)
    assert result.returncode == 0, result.stderr
    log = parse_log((workdir / 'log.lammps').read_text())
    volume = log.series('vol')
    assert log.rows[-1][0] == 200
    assert volume.std() > 0  # the barostat moved the cell
    assert log.series('c_max_gamma').min() > 0


@pytest.mark.integration
def test_callback_failure_stops_lammps_and_is_logged(workdir, monkeypatch):
    """A Python failure inside the force callback halts LAMMPS at that step and lands in the log."""
    from ase.build import bulk

    _write_inputs(workdir, bulk('Si', 'diamond', a=5.43, cubic=True), MDSettings(temperature=300.0, n_steps=100))
    original = force_field.AceForceField.callback

    def corrupt(self, caller, step, nlocal, tag, x, f):
        if step == 37:
            x[0, 0] = float('nan')
        return original(self, caller, step, nlocal, tag, x, f)

    monkeypatch.setattr(force_field.AceForceField, 'callback', corrupt)
    monkeypatch.chdir(workdir)
    status = main.run(['-in', 'input.lammps', '-log', 'log.lammps', '-screen', 'none'])
    assert status == 1
    log = (workdir / 'log.lammps').read_text()
    assert 'Fix halt condition for fix-id mlip_driver_guard met on step 37' in log
    last = log.rstrip().splitlines()[-1]
    assert last == (
        'ERROR: mlip-autopipe-lammps: ACE evaluation failed at step 37: '
        'non-finite atom coordinates: simulation unstable'
    )


@pytest.mark.integration
def test_minimize_with_fixed_cell(workdir):
    """Energies and forces are consistent: conjugate gradients converge on the energy tolerance."""
    from ase.build import bulk

    atoms = bulk('Si', 'diamond', a=5.6, cubic=True)
    atoms.rattle(0.1, seed=1)
    (workdir / 'structure.data').write_text(
        write_data_file(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, ['Si'])
    )
    (workdir / 'input.lammps').write_text(
        'units metal\natom_style atomic\nboundary p p p\nread_data structure.data\n'
        'pair_style pace/extrapolation\npair_coeff * * potential.yaml potential.asi Si\n'
        'thermo_style custom step pe fmax\nmin_style cg\nminimize 1e-10 1e-6 200 2000\n'
    )
    result = _run(workdir)
    assert result.returncode == 0, result.stderr
    log = (workdir / 'log.lammps').read_text()
    assert 'Stopping criterion = energy tolerance' in log
    fmax = parse_log(log).series('fmax')
    assert fmax[-1] < 1e-4 < fmax[0]
