"""The calcfunction that picks the most diverse candidates, so every choice is in the provenance graph.

The picks come out as new ``StructureData`` nodes
(:func:`~aiida_mlip_autopipe.candidates.nodes.copy_candidate`) with the same keys and lineage
plus ``candidate_uuid``; the ``selection`` ``Dict`` holds one record per input candidate:
selected or why not (``duplicate``/``budget``), with the distance to the known set.

Typical use from a work chain (``config`` an ``MLIPConfig``)::

    chosen = select_candidates(structures=screened['structures'], settings=selection_settings(config),
                               n=orm.Int(8), seed=orm.Int(config.seed), labelled=training_set)
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, candidate_structures, copy_candidate
from aiida_mlip_autopipe.data.training_set import TrainingSetData

__all__ = ('OUTPUT_SELECTION', 'select_candidates', 'selection_settings')

OUTPUT_SELECTION = 'selection'
#: Extra set on each input candidate by ``select_candidates`` ('selected', 'duplicate', 'budget').
EXTRA_SELECTION = 'selection_verdict'
#: Descriptor distance below which two candidates are the same structure (round-off).
_SAME_DESCRIPTOR = 1e-6


def selection_settings(config: Any) -> orm.Dict:
    """The ``settings`` Dict of ``select_candidates``: the ``selection`` section plus the target's ``species``.

    The species come from the target (not from the candidates), so that descriptors of every
    generation and of the labelled set live in one space.

    :param config: an ``MLIPConfig`` (or its dict).
    """
    from aiida_mlip_autopipe.config import MLIPConfig

    parsed = config if isinstance(config, MLIPConfig) else MLIPConfig.model_validate(dict(config))
    return orm.Dict({**parsed.selection.model_dump(mode='json'), 'species': list(parsed.target.elements)})


def _selection_settings(settings: orm.Dict) -> tuple[Any, list[str]]:
    from aiida_mlip_autopipe.selection.config import SelectionConfig

    data = dict(settings.get_dict())
    species = data.pop('species', None)
    return SelectionConfig.model_validate(data), list(species or [])


@calcfunction
def select_candidates(
    settings: orm.Dict,
    seed: orm.Int,
    n: orm.Int | None = None,
    labelled: TrainingSetData | None = None,
    **structures: Any,
) -> dict[str, Any]:
    """Pick the ``n`` most diverse candidates by farthest point sampling on SOAP, starting from ``labelled``.

    :param settings: the ``selection`` section plus ``species`` (see :func:`selection_settings`);
        ``descriptor`` gives the SOAP parameters, ``duplicate_distance`` when to stop,
        ``n_select`` the default of ``n``.
    :param seed: chooses the first pick when nothing is labelled yet.
    :param n: how many to pick (default ``settings['n_select']``).
    :param labelled: the training set so far; picks are far from its frames.
    :param structures: namespace ``structures`` of candidate ``StructureData`` by key.
    :returns: ``structures`` (namespace: copies of the picks, same keys) and ``selection``
        (``Dict``: ``order``, ``distances``, per-candidate records).
    """
    from aiida_mlip_autopipe.selection.descriptors import soap_from_config
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    parsed, species = _selection_settings(settings)
    candidates = candidate_structures(structures)
    frames = labelled.get_frames() if labelled is not None else []
    if not species:
        species = sorted(
            {s for node in candidates.values() for s in node.get_symbols_set()}
            | {s for f in frames for s in f.get_chemical_symbols()}
        )
    wanted = parsed.n_select if n is None else int(n.value)
    keys = list(candidates)
    atoms = [node.get_ase() for node in candidates.values()]
    descriptors = soap_from_config(atoms, species, parsed.descriptor)
    reference = soap_from_config(frames, species, parsed.descriptor) if frames else None
    result = farthest_point_sampling(
        descriptors, wanted, reference=reference, seed=int(seed.value), duplicate_distance=parsed.duplicate_distance
    )
    rank = {int(i): r for r, i in enumerate(result.indices)}
    threshold = parsed.duplicate_distance
    records: dict[str, Any] = {}
    selected: dict[str, orm.StructureData] = {}
    for index, (key, node) in enumerate(candidates.items()):
        if index in rank:
            distance = float(result.distances[rank[index]])
            verdict = 'selected'
            selected[key] = copy_candidate(
                node,
                selection={'rank': rank[index], 'distance': distance if distance != float('inf') else None},
            )
        else:
            distance = float(result.remaining[index])
            verdict = 'duplicate' if distance <= max(threshold, _SAME_DESCRIPTOR) else 'budget'
        records[key] = {
            'uuid': node.uuid,
            'origin': node.base.extras.get('origin', None),
            'verdict': verdict,
            'rank': rank.get(index),
            'distance': distance if distance != float('inf') else None,
        }
        node.base.extras.set(EXTRA_SELECTION, verdict)
    order = [keys[i] for i in result.indices]
    summary = orm.Dict(
        {
            'order': order,
            'distances': [d if d != float('inf') else None for d in result.distances.tolist()],
            'uuids': [candidates[k].uuid for k in order],
            'n_requested': wanted,
            'n_selected': len(order),
            'n_candidates': len(candidates),
            'n_labelled': len(frames),
            'stopped': result.stopped,
            'species': list(species),
            'descriptor': parsed.descriptor.model_dump(mode='json'),
            'n_features': int(descriptors.shape[1]),
            'candidates': records,
        }
    )
    return {OUTPUT_SELECTION: summary, OUTPUT_STRUCTURES: selected}
