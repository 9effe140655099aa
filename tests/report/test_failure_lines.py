"""The status table says which failure happened, where, and what the loop did about it (issue 14)."""

from __future__ import annotations

from aiida_mlip_autopipe.report.document import failure_lines


def test_a_clean_history_has_no_failure_line():
    assert failure_lines([{'generation': 0, 'labels_failed': 0, 'md_failed': 0, 'potential_uuid': 'x'}]) == []


def test_each_failure_names_the_process_and_the_consequence():
    history = [
        {
            'generation': 0,
            'potential_uuid': 'u0',
            'labels_failed': 2,
            'md_runs': 3,
            'md_failed': 1,
        },
        {
            'generation': 1,
            'fit_failures': [
                {
                    'pk': 51,
                    'exit_status': 300,
                    'message': 'unrecoverable',
                    'calculation': {'pk': 52, 'exit_status': 402, 'message': 'NaN'},
                }
            ],
            'potential_reused': 17,
            'fit_regression': 'force RMSE 120 > 100 meV/Å',
        },
    ]
    lines = failure_lines(history)
    assert lines == [
        '! generation 0: 2 labels failed (recorded in the failures output)',
        '! generation 0: 1 of 3 MD runs failed',
        '! generation 1: fit<51> (PacemakerCalculation<52> [402]) failed [300] unrecoverable; '
        'explored with the previous potential <17>',
        '! generation 1: fit regression on the held-out set: force RMSE 120 > 100 meV/Å; kept the previous',
    ]


def test_a_failed_fit_without_any_potential_says_so():
    (line,) = failure_lines([{'generation': 0, 'fit_failures': [{'pk': 5, 'exit_status': 300, 'message': 'm'}]}])
    assert line.endswith('no potential to explore with')
