"""The run summary as data: what each generation did and why the run stopped."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('summarise_run',)


@calcfunction
def summarise_run(history: orm.Dict, stop: orm.Dict) -> dict:
    """Return the per-generation history and the stop decision as outputs of the run.

    A calcfunction rather than ``Dict(...).store()`` in the work chain, so the two nodes
    have a creator and the graph shows where they came from.
    """
    generations = history.get('generations', [])
    totals = {
        'generations': len(generations),
        'labels': generations[-1].get('labels_total', 0) if generations else 0,
        'labels_failed': sum(g.get('labels_failed', 0) for g in generations),
        'md_runs': sum(g.get('md_runs', 0) for g in generations),
        'md_failed': sum(g.get('md_failed', 0) for g in generations),
        'md_halted': sum(g.get('md_halted', 0) for g in generations),
        'fits_failed': sum(len(g.get('fit_failures', [])) for g in generations),
        'holdout_labels': generations[-1].get('holdout_total', 0) if generations else 0,
        'fit_regressions': sum(1 for g in generations if g.get('fit_regression')),
    }
    return {
        'history': orm.Dict({'generations': generations, 'totals': totals, 'final_fit': history.get('final_fit')}),
        # ``stop`` is decide_stop's output where a stop rule ended the run: the graph links the two.
        'stop': orm.Dict({key: value for key, value in stop.get_dict().items() if key != 'stop'}),
    }
