"""Idle cores on a run's timeline: the pure arithmetic of ``benchmarks/overhead.py`` (no AiiDA here).

A run has a wall-time window ``[lo, hi]``, ``ncores`` cores, *jobs* (intervals during which a
job script computed, each on one core) and *children* of the loop (intervals labelled with the
phase the loop was in). At each instant the cores compute ``min(ncores, running jobs)``; the
idle fraction of a stretch of time is ``1 - integral(min(ncores, jobs)) dt / (ncores * length)``.

The time of an instant belongs to the phases of the children active then, shared equally when
several phases overlap; an instant with no child active belongs to ``BETWEEN`` (the loop's own
steps and AiiDA noticing that one child ended before it launches the next).

>>> jobs = [(0.0, 10.0), (0.0, 5.0)]
>>> round(idle_fraction(jobs, 0.0, 10.0, 2), 3)  # one core idle for half the time
0.25
>>> table = phase_table([('dft', 0.0, 10.0)], jobs, 0.0, 12.0, 2)
>>> table['dft']['wall'], round(table['dft']['idle_fraction'], 3), table[BETWEEN]['idle_fraction']
(10.0, 0.25, 1.0)
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ('BETWEEN', 'busy_core_seconds', 'idle_fraction', 'phase_of', 'phase_table', 'tail_idle')

#: Time during which no child of the loop was active.
BETWEEN = 'between phases'

#: Call-link-label prefix of a child of ``ActiveLearningWorkChain`` -> the phase it belongs to.
PHASE_PREFIXES: tuple[tuple[str, str], ...] = (
    ('generate_', 'candidates'),
    ('screen_', 'screening'),
    ('score_pool_', 'screening'),
    ('holdout_', 'selection'),
    ('select_', 'selection'),
    ('label_gen', 'dft'),
    ('merge_', 'dft'),
    ('split_', 'dft'),
    ('calibrate_', 'calibration'),
    ('train_final', 'final fit'),
    ('final_fit', 'final fit'),
    ('evaluate_gen', 'evaluation'),
    ('evaluate_', 'final fit'),
    ('train_', 'training'),
    ('md_start_gen', 'md'),
    ('md_gen', 'md'),
    ('extract_', 'extraction'),
    ('validation_', 'validation'),
    ('label_validation', 'validation'),
    ('md_start_validation', 'validation'),
    ('md_validation', 'validation'),
    ('analyse_validation', 'validation'),
    ('summarise', 'results'),
)


def phase_of(call_link_label: str | None) -> str:
    """The phase of a child from its call link label (``other:<label>`` for one not known here).

    >>> phase_of('label_gen01'), phase_of('md_gen00_T600_s000'), phase_of('score_pool_gen02'), phase_of('x')
    ('dft', 'md', 'screening', 'other:x')
    """
    label = call_link_label or ''
    for prefix, phase in PHASE_PREFIXES:
        if label.startswith(prefix):
            return phase
    return f'other:{label.split("_gen")[0] or "?"}'


def _clip(intervals: Iterable[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(lo, s), min(hi, e)) for s, e in intervals if e > lo and s < hi and e > s]


def busy_core_seconds(jobs: Iterable[tuple[float, float]], lo: float, hi: float, ncores: int) -> float:
    """``integral(min(ncores, running jobs)) dt`` over ``[lo, hi]``.

    >>> busy_core_seconds([(0, 4), (1, 3), (2, 5)], 0, 5, 2)  # three jobs on two cores: capped at 2
    8.0
    """
    clipped = _clip(jobs, lo, hi)
    events = sorted([(s, 1) for s, _ in clipped] + [(e, -1) for _, e in clipped])
    total, running, last = 0.0, 0, lo
    for when, step in events:
        total += min(ncores, running) * (when - last)
        running, last = running + step, when
    return float(total)


def idle_fraction(jobs: Iterable[tuple[float, float]], lo: float, hi: float, ncores: int) -> float:
    """Fraction of ``ncores * (hi - lo)`` during which the cores did not compute."""
    if hi <= lo:
        return 0.0
    return 1.0 - busy_core_seconds(jobs, lo, hi, ncores) / (ncores * (hi - lo))


def phase_table(
    children: Sequence[tuple[str, float, float]],
    jobs: Sequence[tuple[float, float]],
    lo: float,
    hi: float,
    ncores: int,
) -> dict[str, dict[str, float]]:
    """Per phase: wall time attributed to it, busy core-seconds in it and its idle fraction.

    :param children: ``(phase, start, end)`` of each child of the loop.
    :param jobs: ``(start, end)`` of each job script.
    """
    points = {lo, hi}
    for _, s, e in children:
        points.update(x for x in (s, e) if lo < x < hi)
    for s, e in jobs:
        points.update(x for x in (s, e) if lo < x < hi)
    edges = sorted(points)
    wall: dict[str, float] = defaultdict(float)
    busy: dict[str, float] = defaultdict(float)
    clipped_jobs = _clip(jobs, lo, hi)
    clipped_children = [(p, max(lo, s), min(hi, e)) for p, s, e in children if e > lo and s < hi]
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        middle = 0.5 * (a + b)
        active = sorted({p for p, s, e in clipped_children if s <= middle < e}) or [BETWEEN]
        running = sum(1 for s, e in clipped_jobs if s <= middle < e)
        length, cores = b - a, min(ncores, running) * (b - a)
        for phase in active:
            wall[phase] += length / len(active)
            busy[phase] += cores / len(active)
    table = {
        phase: {
            'wall': wall[phase],
            'busy_core_seconds': busy[phase],
            'idle_fraction': 1.0 - busy[phase] / (ncores * wall[phase]) if wall[phase] else 0.0,
        }
        for phase in wall
    }
    table['all'] = {
        'wall': hi - lo,
        'busy_core_seconds': sum(busy.values()),
        'idle_fraction': 1.0 - sum(busy.values()) / (ncores * (hi - lo)) if hi > lo else 0.0,
    }
    return table


def tail_idle(
    jobs: Sequence[tuple[float, float]], last_start: float, lo: float, hi: float, ncores: int
) -> dict[str, float]:
    """Idle core-seconds of ``[lo, hi]`` split at ``last_start`` (the last job launched): before, and the tail after.

    After the last launch nothing is left to start, so the cores that free up stay idle whatever
    the orchestration does; before it, an idle core waits for AiiDA to start the next job.

    >>> tail_idle([(0, 10), (0, 4), (5, 8)], 5, 0, 10, 2)
    {'before_last_start': 1.0, 'tail': 2.0}
    """
    cut = min(max(last_start, lo), hi)
    before = ncores * (cut - lo) - busy_core_seconds(jobs, lo, cut, ncores)
    after = ncores * (hi - cut) - busy_core_seconds(jobs, cut, hi, ncores)
    return {'before_last_start': before, 'tail': after}


def summarise(values: Iterable[float | None]) -> dict[str, Any]:
    """Count, mean and median of the values that are not None."""
    import statistics

    present = [v for v in values if v is not None]
    if not present:
        return {'count': 0, 'mean': None, 'median': None}
    return {'count': len(present), 'mean': statistics.fmean(present), 'median': statistics.median(present)}


if __name__ == '__main__':
    import doctest

    raise SystemExit(doctest.testmod().failed)
