"""The report's phase-time table: a total per generation, a total per phase, the run's wall time (issue 9)."""

from __future__ import annotations

from aiida_mlip_autopipe.report.collect import RunData
from aiida_mlip_autopipe.report.document import phase_time_lines
from tests.utils import finished_workflow


def _run(pk: int, history: list[dict]) -> RunData:
    return RunData(
        pk=pk,
        label='t',
        state='finished',
        exit_status=0,
        exit_message=None,
        config={},
        history=history,
        phase=None,
        stop=None,
        gamma_lower=None,
    )


def test_totals_per_generation_and_phase(aiida_profile):
    node = finished_workflow(0, process_label='ActiveLearningWorkChain')
    history = [
        {'generation': 0, 'timings': {'generation': 2.0, 'dft': 10.0, 'training': 20.0}},
        {'generation': 1, 'timings': {'screening': 0.5, 'dft': 5.0, 'training': 15.0, 'md': 4.5}},
    ]
    lines = phase_time_lines(_run(node.pk, history), report_seconds=1.25)
    header = lines[2]
    assert header.startswith('| gen | generation [cf] | screening [job] | selection [job] | dft [job] |')
    assert header.endswith('| md [job] | extraction [job] | total |')
    assert lines[4].endswith('| 32.0 |')  # generation 0: 2 + 10 + 20
    assert lines[5].endswith('| 25.0 |')  # generation 1
    assert lines[6].startswith('| all | 2.0 | 0.5 |') and lines[6].endswith('| 57.0 |')
    totals = next(line for line in lines if line.startswith('Totals:'))
    assert 'run wall time' in totals and 'this report (figures and tables) 1.2 s' in totals


def test_missing_phases_are_dashes(aiida_profile):
    node = finished_workflow(0, process_label='ActiveLearningWorkChain')
    lines = phase_time_lines(_run(node.pk, [{'generation': 0, 'timings': {}}]))
    assert lines[4] == '| 0 | ' + ' | '.join(['-'] * 9) + ' | 0.0 |'


def test_job_phases_that_ran_get_columns_of_their_own(aiida_profile):
    """Issue 15: the heavy steps show as jobs; the optional ones (scoring, evaluation, calibration) when they ran."""
    node = finished_workflow(0, process_label='ActiveLearningWorkChain')
    history = [
        {'generation': 0, 'timings': {'dft': 10.0, 'evaluation': 1.5}},
        {'generation': 1, 'timings': {'pool_scoring': 0.5, 'calibration': 2.0, 'dft': 5.0}},
    ]
    lines = phase_time_lines(_run(node.pk, history))
    header = [cell.strip() for cell in lines[2].strip('|').split('|')]
    assert header == [
        'gen',
        'generation [cf]',
        'screening [job]',
        'pool_scoring [job]',
        'selection [job]',
        'dft [job]',
        'merge [cf]',
        'training [job]',
        'evaluation [job]',
        'calibration [job]',
        'md_setup [cf]',
        'md [job]',
        'extraction [job]',
        'total',
    ]
    assert lines[4].endswith('| 11.5 |') and lines[5].endswith('| 7.5 |')
    assert any(line.startswith('[job]: CalcJobs on a computer') for line in lines)
