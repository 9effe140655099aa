"""The numbers the loop decides on, as outputs of calcfunctions linked to what they came from.

Without these, the calibrated dump threshold travelled as a float in the context, the uncertain
fraction and max gamma were computed in work-chain code, and the stop rule fired on numbers the
graph did not hold: ``verdi node graph`` could show neither why an MD used its threshold nor why
the run stopped. Each function here is light bookkeeping (no model, no descriptors):

- :func:`md_settings_with_threshold`: calibration output (or the config's threshold) -> MD settings;
- :func:`tally_exploration`: the MD runs' parser summaries -> the generation's exploration numbers;
- :func:`decide_stop`: those numbers, the run's history and the loop section -> continue or stop, and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('count_md', 'decide_stop', 'md_settings_with_threshold', 'tally_exploration', 'threshold_node')


def threshold_node(gamma_lower: float, source: str) -> orm.Dict:
    """The dump threshold as a node when no calibration made it (``source``: where it came from)."""
    return orm.Dict({'gamma_lower': float(gamma_lower), 'source': source})


@calcfunction
def md_settings_with_threshold(settings: orm.Dict, threshold: orm.Dict) -> orm.Dict:
    """``settings`` with the dump threshold of ``threshold`` (a calibration's output, or the config's value).

    The threshold stays below the halt (``gamma_upper``), as the MD input requires.
    """
    data = settings.get_dict()
    value = threshold.get('gamma_lower_after', threshold.get('gamma_lower'))
    if value is None:
        raise ValueError(f'threshold<{threshold.pk}> holds no gamma_lower(_after): {sorted(threshold.keys())}')
    data['gamma_lower'] = min(float(value), 0.999 * float(data['gamma_upper']))
    return orm.Dict(data)


def count_md(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The exploration numbers of one generation from its MD runs (pure).

    Each run: ``finished_ok``, ``blow_up`` (exit status of a blow-up), ``n_steps`` planned and
    ``summary`` (the parser's, possibly empty). A blow-up is uncertainty, not a failure; a run
    that halted or blew up counts the steps it never reached as uncertain.
    """
    counts = {'md_runs': 0, 'md_failed': 0, 'md_halted': 0, 'steps_total': 0, 'max_gamma': 0.0}
    uncertain_steps = 0.0
    for run in runs:
        summary = run.get('summary') or {}
        blow_up = bool(run.get('blow_up')) or bool(summary.get('blow_up'))
        counts['md_runs'] += 1
        if not run.get('finished_ok') and not blow_up:
            counts['md_failed'] += 1
            continue
        stopped = blow_up or bool(summary.get('halted'))
        counts['md_halted'] += int(stopped)
        steps = int(summary.get('steps_run') or 0)
        missed = max(0, int(run.get('n_steps') or steps) - steps) if stopped else 0
        counts['steps_total'] += steps + missed
        uncertain_steps += float(summary.get('fraction_above_lower') or 0.0) * steps + missed
        counts['max_gamma'] = max(counts['max_gamma'], float(summary.get('max_gamma') or 0.0))
    total = counts['steps_total']
    counts['uncertain_fraction'] = uncertain_steps / total if total else None
    return counts


@calcfunction
def tally_exploration(runs: orm.Dict, **summaries: orm.Dict) -> orm.Dict:
    """:func:`count_md` on the MD summaries (inputs, so the graph links them) and ``runs`` (status per label)."""
    meta = runs.get_dict()
    return orm.Dict(
        count_md(
            [{**meta[label], 'summary': summaries[label].get_dict() if label in summaries else {}} for label in meta]
        )
    )


@calcfunction
def decide_stop(exploration: orm.Dict, history: orm.Dict, loop: orm.Dict) -> orm.Dict:
    """Whether the run goes on after this generation: ``{'stop': bool, 'rule', 'message'}``.

    ``exploration`` (from :func:`tally_exploration`) overrides the last generation's numbers in
    ``history``, so the decision reads the linked node, not a copy.
    """
    from aiida_mlip_autopipe.loop.stop_rules import evaluate_stop_rules

    generations = [dict(g) for g in history.get('generations', [])]
    if generations:
        numbers = exploration.get_dict()
        generations[-1].update({k: v for k, v in numbers.items() if k != 'steps_total'})
    decision = evaluate_stop_rules(generations, loop.get_dict())
    if decision is None:
        return orm.Dict({'stop': False, 'rule': None, 'message': 'no stop rule fired: next generation'})
    return orm.Dict({'stop': True, **decision.as_dict()})
