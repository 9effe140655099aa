"""pacemaker's step record, final errors, learning table and failure classes, read from captured runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiida_mlip_autopipe.training.logs import classify_failure, parse_final_errors, parse_learning_table, parse_steps

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'pacemaker'


def test_parse_steps():
    text = (FIXTURES / 'success' / 'aiida_steps.txt').read_text()
    steps = parse_steps(text)
    assert [steps[s]['exit_status'] for s in ('pacemaker', 'pace_yaml2yace', 'pace_activeset')] == [0, 0, 0]
    assert all(step['wall_time'] > 0 for step in steps.values())
    assert steps['pacemaker']['start_local'].startswith('20')
    assert parse_steps('pacemaker start 1.0 2026-01-01 00:00:00.0\npacemaker end 3.5 2026-01-01 00:00:02.5 unknown')[
        'pacemaker'
    ] == {
        'start': 1.0,
        'start_local': '2026-01-01 00:00:00.0',
        'end': 3.5,
        'end_local': '2026-01-01 00:00:02.5',
        'exit_status': None,
        'wall_time': 2.5,
    }


def test_final_errors_take_the_last_block_of_each_kind():
    errors = parse_final_errors((FIXTURES / 'success' / 'log.txt').read_text())
    assert set(errors) == {'train', 'test'}
    assert errors['train']['number_of_functions'] == 16
    assert errors['test']['force_rmse'] > 0
    assert parse_final_errors('no blocks here') == {}


def test_learning_table_skips_truncated_rows():
    text = (FIXTURES / 'success' / 'metrics.txt').read_text()
    table = parse_learning_table(text + '0 0 21 0.1\n')
    assert table['iter_num'][-1] == 20
    assert np.all(np.isfinite(table['loss']))


def test_classify_failure_precedence():
    # Memory markers win over everything; a finished fit without a traceback is no failure.
    assert (
        classify_failure(stderr='std::bad_alloc', log='', scheduler_stderr='', exit_status=134, finished=False)[0]
        == 'ERROR_OUT_OF_MEMORY'
    )
    assert classify_failure(stderr='', log='Fitting done', scheduler_stderr='', exit_status=0, finished=True) is None
    caught = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: plotting failed\n'
    assert classify_failure(stderr=caught, log='', scheduler_stderr='', exit_status=0, finished=True) is None
    assert classify_failure(stderr=caught, log='', scheduler_stderr='', exit_status=1, finished=True) == (
        'ERROR_PACEMAKER_FAILED',
        'ValueError: plotting failed',
    )
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nKeyError: boom\n'
    assert classify_failure(stderr=traceback, log='', scheduler_stderr='', exit_status=1, finished=False) == (
        'ERROR_PACEMAKER_FAILED',
        'KeyError: boom',
    )
    oom_kill = 'slurmstepd: error: Detected 1 oom_kill event in StepId=1.batch'
    assert classify_failure(stderr='', log='', scheduler_stderr=oom_kill, exit_status=137, finished=False)[0] == (
        'ERROR_OUT_OF_MEMORY'
    )
