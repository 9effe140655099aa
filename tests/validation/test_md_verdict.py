"""The stability MD's verdict can say no: a failed run is never stable, whatever its summary says (issue 14)."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.validation.core import md_verdict

QUIET = {'temperature': 600.0, 'steps_run': 400, 'max_gamma': 1.2, 'halted': False, 'blow_up': False, 'stable': True}


def test_a_finished_quiet_run_is_stable():
    verdict = md_verdict(QUIET, 0)
    assert verdict['stable'] is True
    assert verdict['reason'] is None


@pytest.mark.parametrize(
    ('summary', 'exit_status', 'message', 'reason'),
    [
        # A walltime kill: the partial summary is quiet (the old verdict, not halted and not blow_up, said stable).
        (QUIET, 120, 'walltime exceeded', 'the stability MD failed [120]: walltime exceeded'),
        (QUIET, 300, None, 'the stability MD failed [300]'),
        ({**QUIET, 'stable': False}, 0, None, 'the parser judged the MD unstable'),
        ({**QUIET, 'halted': True, 'stable': False}, 0, None, 'halted on the extrapolation grade'),
        ({**QUIET, 'blow_up': True, 'stable': False}, 0, None, 'blew up'),
        ({k: v for k, v in QUIET.items() if k != 'stable'}, 0, None, 'no stability verdict'),
        # LammpsBaseWorkChain accepts a wall-time kill's partial run (exit 0): still not a stable verdict.
        ({**QUIET, 'completed': False, 'walltime_reached': True}, 0, None, 'wall-time limit'),
        (None, None, None, 'did not run'),
    ],
)
def test_anything_else_is_not_stable(summary, exit_status, message, reason):
    verdict = md_verdict(summary, exit_status, message)
    assert verdict['stable'] is False
    assert reason in verdict['reason']
