"""``benchmarks/reliability.md`` is made from test records only: no figure of its own, and what is missing is named."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def page():
    """The ``benchmarks/reliability.py`` module."""
    spec = importlib.util.spec_from_file_location('reliability_page', ROOT / 'benchmarks' / 'reliability.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(markdown: str) -> list[str]:
    """The numbers on a page outside code spans (names such as `training-gen1` or `core.psql_dos` are code)."""
    return re.findall(r'\d+', re.sub(r'`[^`]*`', '', markdown))


PHASE_RECORD = {
    'profile': 'presto (core.sqlite_dos + core.zeromq)',
    'case': 'training',
    'mode': 'daemon',
    'phase': 'training',
    'generation': 0,
    'process_pk': 41,
    'exit_status': 0,
    'job': 'PacemakerCalculation',
    'job_pk': 77,
    'job_id_at_kill': '9001',
    'job_alive_at_kill': True,
    'job_id_after': '9001',
    'job_exit_status': 0,
    'killed_worker_pids': [11],
    'interim_worker_pids': [12],
    'new_worker_pids': [13],
    'finished_before_kill': {'50': 'PwCalculation'},
    'slots_before_kill': {'49:iteration_01': 50, '41:generate_gen00': 42},
    'slots_after': {'49:iteration_01': 50, '41:generate_gen00': 42},
    'repeated': {},
    'jobs_per_kind': {'PacemakerCalculation': 1},
    'resumed_by_pids': [13],
    'seconds': 37.5,
}


def test_a_page_without_records_has_no_figures_and_names_what_is_missing(page):
    tested = {'presto': {'dft', 'training', 'md'}, 'scale-out': {'md'}}
    markdown = page.render({}, None, tested=tested)
    assert _figures(markdown) == [], _figures(markdown)
    for case, profile in (('dft', 'presto'), ('training', 'presto'), ('md', 'presto'), ('md', 'scale-out')):
        assert f'no record for `{case}` on the {profile} profile' in markdown
    assert 'no record of faults injected' in markdown and 'no record of bad inputs' in markdown
    assert 'not tested on this profile' in markdown  # screening on scale-out: not defined, not claimed


def test_the_figures_are_the_records(page):
    tested = {'presto': {'training'}, 'scale-out': set()}
    markdown = page.render({'kill_phase': [PHASE_RECORD]}, None, tested=tested)
    assert 'no record for `training`' not in markdown
    row = next(line for line in markdown.splitlines() if line.startswith('| `training`:'))
    assert '`daemon`: exit 0' in row and '2 of 2 finished steps kept, 0 repeated; 37.5 s' in row
    assert 'same job id' in row
    resubmitted = {**PHASE_RECORD, 'job_id_after': '9002', 'slots_after': {'49:iteration_01': 51}}
    markdown = page.render({'kill_phase': [resubmitted]}, None, tested=tested)
    row = next(line for line in markdown.splitlines() if line.startswith('| `training`:'))
    assert 'NEW job id' in row and '0 of 2 finished steps kept' in row


def test_the_matrix_cells_come_from_the_tests(page):
    """Each phase of the page is a case of the kill tests; the scale-out profile kills at least the fit and the MD."""
    tested = page.tested_cells()
    assert tested['presto'] == set(page.PHASES)
    assert {'dft', 'training', 'md'} <= tested['scale-out']
