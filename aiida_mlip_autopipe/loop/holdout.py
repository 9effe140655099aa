"""The run's fixed held-out set: DFT labels drawn once, never trained on, the yardstick of every fit.

The error of a potential on the labels selected *because* it was uncertain there says how
uncertain it was, not how good it is; it changes from one generation to the next with what
the selection found. A held-out set drawn once from generation 0's screened pool (strained,
rattled and defective cells alike: a seeded draw spread over the origins) and grown by one
MD cut-out per later generation as they appear, is a stable yardstick: the plateau rule,
the regression check of each fit, the choice among the final refits and the report's
learning curve all use it. Both calcfunctions here are light bookkeeping; the potentials are
evaluated on the set by a job (``EvaluationCalculation``).
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.data.training_set import TrainingSetData

__all__ = ('draw_holdout', 'holdout_keys', 'split_labels')

#: Key prefix of held-out structures in a generation's labelling.
PREFIX = 'holdout_'


def holdout_keys(structures: dict[str, orm.StructureData], n: int, seed: int, origins: tuple[str, ...] = ()) -> list:
    """``n`` keys of ``structures`` spread over their origins (round robin, seeded order within each origin).

    With ``origins``, only candidates of those origins are eligible.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    by_origin: dict[str, list[str]] = {}
    for key in sorted(structures):
        origin = structures[key].base.extras.get('origin', 'unknown')
        if origins and origin not in origins:
            continue
        by_origin.setdefault(origin, []).append(key)
    queues = {origin: list(rng.permutation(keys)) for origin, keys in sorted(by_origin.items())}
    picked: list[str] = []
    while len(picked) < n and any(queues.values()):
        for origin in sorted(queues):
            if queues[origin] and len(picked) < n:
                picked.append(str(queues[origin].pop(0)))
    return picked


@calcfunction
def draw_holdout(n: orm.Int, seed: orm.Int, origins: orm.List, **structures: Any) -> dict[str, Any]:
    """Copies of ``n`` candidates for the held-out set, spread over their origins; marked ``holdout``."""
    from aiida_mlip_autopipe.candidates.nodes import candidate_structures, copy_candidate

    candidates = candidate_structures(structures)
    keys = holdout_keys(candidates, int(n.value), int(seed.value), tuple(origins.get_list()))
    out = {}
    for key in keys:
        copy = copy_candidate(candidates[key], holdout=True)
        copy.base.extras.set('holdout', True)
        out[key] = copy
    return {'structures': out}


@calcfunction
def split_labels(labels: TrainingSetData, holdout: orm.List) -> dict[str, TrainingSetData]:
    """The frames of ``labels`` whose structure is in ``holdout`` (UUIDs), and the others: never trained on."""
    held = set(holdout.get_list())
    frames = labels.get_frames()
    training = [f for f in frames if f.info.get('structure_uuid') not in held]
    kept_out = [f for f in frames if f.info.get('structure_uuid') in held]
    return {'training': TrainingSetData.from_frames(training), 'holdout': TrainingSetData.from_frames(kept_out)}
