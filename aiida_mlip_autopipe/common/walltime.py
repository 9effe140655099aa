"""A wall-time limit for jobs on schedulers that enforce none (``core.direct``), and how a job tells it was hit.

SLURM, PBS and the like kill a job at ``max_wallclock_seconds`` and their output parser
returns the CalcJob's ``ERROR_SCHEDULER_OUT_OF_WALLTIME`` (120). AiiDA's ``core.direct``
scheduler (a laptop, a workstation) ignores the option: a fit or an MD that never ends holds
its cores forever and the run waits on it. For those jobs the job script starts a watchdog:
after ``max_wallclock_seconds`` it writes :data:`WALLTIME_MARKER` (with the limit) and sends
SIGTERM to the job script's own children (the code), nothing else; the script then goes on
with its ``append_text`` as after any other exit, and the parser reads the marker. A job that
ends in time stops the watchdog.
"""

from __future__ import annotations

import shlex
from typing import Any

__all__ = (
    'SCHEDULERS_WITHOUT_WALLTIME',
    'WALLTIME_MARKER',
    'needs_watchdog',
    'stop_watchdog_text',
    'walltime_reached',
    'watchdog_text',
)

#: Written by the watchdog when it stops the code: ``walltime <seconds>``.
WALLTIME_MARKER = 'aiida_walltime.txt'
#: Scheduler plugins that do not enforce ``max_wallclock_seconds`` themselves.
SCHEDULERS_WITHOUT_WALLTIME = ('core.direct',)
#: The CalcJob exit status a scheduler's output parser gives a job killed at its wall-time limit.
SCHEDULER_OUT_OF_WALLTIME = 120


def needs_watchdog(computer: Any, options: Any) -> int | None:
    """The limit in seconds the job script must enforce itself, or None (the scheduler does, or none is set)."""
    seconds = options.get('max_wallclock_seconds') if options is not None else None
    if not seconds or computer is None:
        return None
    if computer.scheduler_type not in SCHEDULERS_WITHOUT_WALLTIME:
        return None
    return int(seconds)


def watchdog_text(seconds: int) -> str:
    """Job-script lines (for ``prepend_text``) that stop the script's children after ``seconds``."""
    marker = shlex.quote(WALLTIME_MARKER)
    return '\n'.join(
        [
            f'# {WALLTIME_MARKER}: the scheduler enforces no wall-time limit, this watchdog does',
            f'( sleep {int(seconds)} && echo "walltime {int(seconds)}" > {marker} && '
            'for AIIDA_CHILD in $(pgrep -P $$); do [ "$AIIDA_CHILD" != "$BASHPID" ] && kill -TERM "$AIIDA_CHILD"; '
            'done ) > /dev/null 2>&1 &',
            'AIIDA_WATCHDOG=$!',
        ]
    )


def stop_watchdog_text() -> str:
    """Job-script lines (for ``append_text``) that stop the watchdog of :func:`watchdog_text` and its ``sleep``."""
    return 'pkill -P "$AIIDA_WATCHDOG" > /dev/null 2>&1; kill "$AIIDA_WATCHDOG" > /dev/null 2>&1'


def walltime_reached(node: Any, names: Any) -> str | None:
    """Why the job counts as stopped at its wall-time limit (the watchdog's marker or the scheduler), or None.

    :param node: the ``CalcJobNode`` being parsed (its exit status is the scheduler's, if any).
    :param names: the file names in its ``retrieved`` folder.
    """
    if WALLTIME_MARKER in names:
        return f'the job script stopped the code at max_wallclock_seconds ({WALLTIME_MARKER})'
    if getattr(node, 'exit_status', None) == SCHEDULER_OUT_OF_WALLTIME:
        return 'the scheduler killed the job at its wall-time limit'
    return None
