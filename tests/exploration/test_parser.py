"""``LammpsParser`` on outputs of real ``mlip-autopipe-lammps`` runs (``fixtures/lammps/<case>``: make_fixtures.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType

from aiida_mlip_autopipe.exploration.lammps_input import MDSettings
from aiida_mlip_autopipe.exploration.lammps_output import parse_log, read_dump
from aiida_mlip_autopipe.exploration.parser import LammpsParser, analyse_run

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'lammps'
#: Summary values that depend on the machine's speed, not on the physics.
TIMING_KEYS = ('loop_seconds', 'ms_per_step', 'ms_per_ace_evaluation')


@pytest.fixture
def parse_case(aiida_localhost, si_tiny_lammps_potential, tmp_path):
    """Parse fixture ``case`` as the retrieved output of a LammpsCalculation node; returns (results, calcfunction)."""

    def parse(case: str):
        folder = FIXTURES / case
        settings = orm.Dict(json.loads((folder / 'settings.json').read_text())).store()
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlip_autopipe.lammps')
        node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
        node.base.links.add_incoming(settings, link_type=LinkType.INPUT_CALC, link_label='settings')
        node.base.links.add_incoming(si_tiny_lammps_potential, link_type=LinkType.INPUT_CALC, link_label='potential')
        node.store()
        retrieved = orm.FolderData()
        for name in ('log.lammps', 'lammps.out'):
            if (folder / name).is_file():
                retrieved.base.repository.put_object_from_file(str(folder / name), name)
        retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
        retrieved.store()
        temporary = tmp_path / case
        temporary.mkdir()
        if (folder / 'gamma.dump').is_file():
            shutil.copy(folder / 'gamma.dump', temporary / 'gamma.dump')
        return LammpsParser.parse_from_node(node, store_provenance=False, retrieved_temporary_folder=str(temporary))

    return parse


def _stable_summary(results) -> dict:
    summary = results['summary'].get_dict()
    for key in TIMING_KEYS:
        assert key not in summary or summary[key] is None or summary[key] > 0
        summary.pop(key, None)
    return summary


def test_stable_run(parse_case, data_regression):
    results, calc = parse_case('stable')
    assert calc.exit_status == 0
    summary = _stable_summary(results)
    assert summary['stable'] is True
    assert summary['halted'] is False
    assert summary['n_frames_dumped'] == 0
    assert summary['max_gamma'] < summary['gamma_lower']
    assert 'uncertain_frames' not in results
    thermo = results['thermo']
    assert thermo.get_array('step')[-1] == 300
    assert thermo.get_array('max_gamma').shape == (31,)
    data_regression.check(summary)


def test_normal_run_dumps_uncertain_frames(parse_case, data_regression):
    results, calc = parse_case('normal')
    assert calc.exit_status == 0
    summary = _stable_summary(results)
    assert summary['halted'] is False
    assert summary['stable'] is False
    assert summary['completed'] is True
    frames = results['uncertain_frames']
    gamma = frames.get_array('gamma')
    assert gamma.shape == (summary['n_frames_dumped'], 8)
    assert np.all(gamma.max(axis=1) >= summary['gamma_lower'])
    assert np.allclose(frames.get_array('max_gamma'), gamma.max(axis=1))
    # Every dumped step is a thermo step whose max gamma is the dump's max gamma.
    thermo = results['thermo']
    by_step = dict(zip(thermo.get_array('step').astype(int), thermo.get_array('max_gamma'), strict=True))
    for step, value in zip(frames.get_stepids(), frames.get_array('max_gamma'), strict=True):
        assert by_step[int(step)] == pytest.approx(value, rel=1e-6)
    assert frames.get_times()[1] == pytest.approx(frames.get_stepids()[1] * 0.001)
    assert frames.symbols == ['Si'] * 8
    assert summary['fraction_above_lower'] == pytest.approx(summary['n_frames_dumped'] / summary['gamma_samples'])
    data_regression.check(summary)


def test_halted_run(parse_case, data_regression):
    results, calc = parse_case('halted')
    assert calc.exit_status == 0
    summary = _stable_summary(results)
    assert summary['halted'] is True
    assert summary['halted_at_step'] == 420
    assert summary['halt_gamma'] > summary['gamma_upper']
    assert summary['steps_run'] == 420
    assert summary['stable'] is False
    assert summary['completed'] is True
    frames = results['uncertain_frames']
    assert frames.get_stepids()[-1] == 420
    assert frames.get_array('max_gamma')[-1] == pytest.approx(summary['halt_gamma'], rel=1e-8)
    data_regression.check(summary)


def test_blowup_is_reported_as_such_with_outputs(parse_case, data_regression):
    results, calc = parse_case('blowup')
    assert calc.exit_status == 401
    assert 'Lost atoms' in calc.exit_message
    summary = _stable_summary(results)
    assert summary['blow_up'] is True
    assert summary['error_kind'] == 'unstable'
    assert summary['stable'] is False
    # What was dumped before the blow-up is still there for the loop to use.
    assert results['uncertain_frames'].numsteps == summary['n_frames_dumped'] > 0
    data_regression.check(summary)


def test_unsupported_input(parse_case):
    results, calc = parse_case('unsupported')
    assert calc.exit_status == 402
    assert "'kspace_style'" in calc.exit_message
    assert results['summary']['error_kind'] == 'unsupported'


def test_killed_run_is_incomplete(parse_case):
    results, calc = parse_case('incomplete')
    assert calc.exit_status == 303
    assert 'without an error message' in calc.exit_message
    summary = results['summary'].get_dict()
    assert summary['completed'] is False
    assert summary['steps_run'] == summary['last_step'] > 0


def test_gamma_identically_zero_is_refused(parse_case):
    _, calc = parse_case('gamma_zero')
    assert calc.exit_status == 410
    assert 'active set was not loaded' in calc.exit_message


def test_missing_log(aiida_localhost, si_tiny_lammps_potential):
    settings = orm.Dict(json.loads((FIXTURES / 'stable' / 'settings.json').read_text())).store()
    node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlip_autopipe.lammps')
    node.set_option('resources', {'num_machines': 1})
    node.base.links.add_incoming(settings, link_type=LinkType.INPUT_CALC, link_label='settings')
    node.store()
    retrieved = orm.FolderData()
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    _, calc = LammpsParser.parse_from_node(node, store_provenance=False)
    assert calc.exit_status == 301


def test_truncated_dump_is_unparsable_but_complete_frames_survive():
    folder = FIXTURES / 'normal'
    settings = MDSettings(**json.loads((folder / 'settings.json').read_text()))
    dump = (folder / 'gamma.dump').read_text()
    cut = dump[: len(dump) - 40]
    analysis = analyse_run((folder / 'log.lammps').read_text(), cut, settings)
    assert analysis.exit_code == 'ERROR_DUMP_UNPARSABLE'
    assert len(analysis.frames) == len(read_dump(dump)) - 1


def test_log_reader_on_lammps_error_context():
    log = parse_log((FIXTURES / 'blowup' / 'log.lammps').read_text())
    assert log.errors == ['ERROR: Lost atoms: original 16 current 14']
    assert log.finished  # LAMMPS closes its log even after an error: errors decide, not "Total wall time"
    assert log.version == '22 Jul 2025 - Update 4'
    assert log.rows[-1][0] == 210
