"""Calcfunctions for screening and selecting candidates, so every verdict is in the provenance graph.

A calcfunction cannot return its own inputs, so the structures that pass (screening) or
are picked (selection) come out as new ``StructureData`` nodes with the same keys,
origin, generation and parent as the input candidate plus ``candidate_uuid`` (the
generated candidate they copy). The ``Dict`` outputs hold one record per input
candidate: kept/rejected and the number that decided it; selected or why not
(``duplicate``/``budget``), with the distance to the known set.

Typical use from a work chain (``config`` an ``MLIPConfig``)::

    screened = screen_candidates(model=model_node, settings=screening_settings(config), structures=candidates)
    chosen = select_candidates(structures=screened['structures'], settings=selection_settings(config),
                               n=orm.Int(8), seed=orm.Int(config.seed), labelled=training_set)
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.candidates.nodes import candidate_structures, copy_candidate
from aiida_mlip_autopipe.data.training_set import TrainingSetData

__all__ = (
    'OUTPUT_SELECTION',
    'OUTPUT_STRUCTURES',
    'OUTPUT_VERDICTS',
    'model_input',
    'screen_candidates',
    'screening_settings',
    'select_candidates',
    'selection_settings',
)

OUTPUT_STRUCTURES = 'structures'
OUTPUT_VERDICTS = 'verdicts'
OUTPUT_SELECTION = 'selection'
#: Extra set on each input candidate by ``screen_candidates`` for quick queries
#: ('kept' or 'rejected:<reason>'); the ``verdicts`` Dict is the provenance record.
EXTRA_SCREENING = 'screening_verdict'
#: Extra set on each input candidate by ``select_candidates`` ('selected', 'duplicate', 'budget').
EXTRA_SELECTION = 'selection_verdict'
#: Descriptor distance below which two candidates are the same structure (round-off).
_SAME_DESCRIPTOR = 1e-6


def _parsed(config: Any) -> Any:
    from aiida_mlip_autopipe.config import MLIPConfig

    return config if isinstance(config, MLIPConfig) else MLIPConfig.model_validate(dict(config))


def screening_settings(config: Any) -> orm.Dict:
    """The ``settings`` Dict of ``screen_candidates``: the ``screening`` section.

    :param config: an ``MLIPConfig`` (or its dict).
    """
    return orm.Dict(_parsed(config).screening.model_dump(mode='json'))


def selection_settings(config: Any) -> orm.Dict:
    """The ``settings`` Dict of ``select_candidates``: the ``selection`` section plus the target's ``species``.

    The species come from the target (not from the candidates), so that descriptors of every
    generation and of the labelled set live in one space.

    :param config: an ``MLIPConfig`` (or its dict).
    """
    parsed = _parsed(config)
    return orm.Dict({**parsed.selection.model_dump(mode='json'), 'species': list(parsed.target.elements)})


def model_input(model: str) -> orm.Data:
    """The ``model`` input for ``screen_candidates`` from ``screening.model``.

    A MACE model file becomes a ``SinglefileData`` (so the exact file is in the
    provenance); names (``mace_mp:small``, ``chgnet``, ``none``) become a ``Str``.
    """
    from pathlib import Path

    if model in {'chgnet', 'none'} or model.startswith('mace_mp:'):
        return orm.Str(model)
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'screening model file {model!r} not found')
    return orm.SinglefileData(path.resolve())


def _selection_settings(settings: orm.Dict) -> tuple[Any, list[str]]:
    from aiida_mlip_autopipe.selection.config import SelectionConfig

    data = dict(settings.get_dict())
    species = data.pop('species', None)
    return SelectionConfig.model_validate(data), list(species or [])


def _model_backend(model: orm.Data, settings: Any):
    from aiida_mlip_autopipe.selection.screening import load_backend

    if isinstance(model, orm.SinglefileData):
        with model.open(mode='rb') as handle:
            backend = load_backend(handle, device=settings.device, batch_size=settings.batch_size)
        backend.description.update({'node_uuid': model.uuid, 'filename': model.filename})
        return backend
    if isinstance(model, orm.Str):
        name = model.value
        if name not in {'chgnet', 'none'} and not name.startswith('mace_mp:'):
            raise ValueError(
                f'model {name!r}: give a MACE model file as SinglefileData (so provenance records it), or one of '
                "'mace_mp:small|medium|large', 'chgnet', 'none'"
            )
        return load_backend(name, device=settings.device, batch_size=settings.batch_size)
    raise TypeError(f'model must be a SinglefileData or a Str, got {type(model).__name__}')


@calcfunction
def screen_candidates(model: orm.Data, settings: orm.Dict, **structures: Any) -> dict[str, Any]:
    """Evaluate candidates in batches with a MACE or CHGNet model and keep the physically sane ones.

    :param model: a MACE model file (``SinglefileData``) or ``Str``: ``'mace_mp:small|medium|large'``,
        ``'chgnet'``, or ``'none'`` (geometry check only).
    :param settings: the ``screening`` config section (``max_force``, ``energy_window``,
        ``min_distance_factor``, ``batch_size``, ``device``; ``model`` is ignored: the ``model`` input decides).
    :param structures: namespace ``structures`` of candidate ``StructureData`` by key.
    :returns: ``verdicts`` (``Dict``) and ``structures`` (namespace: copies of the kept candidates, same keys).
    """
    from aiida_mlip_autopipe.screening.config import ScreeningConfig
    from aiida_mlip_autopipe.selection.screening import screen

    parsed = ScreeningConfig.model_validate(settings.get_dict())
    candidates = candidate_structures(structures)
    backend = _model_backend(model, parsed)
    atoms = [node.get_ase() for node in candidates.values()]
    verdicts = screen(
        atoms,
        backend,
        max_force=parsed.max_force,
        energy_window=parsed.energy_window,
        min_distance_factor=parsed.min_distance_factor,
    )
    records: dict[str, Any] = {}
    kept: dict[str, orm.StructureData] = {}
    counts: dict[str, int] = {}
    for (key, node), verdict in zip(candidates.items(), verdicts, strict=True):
        record = {'uuid': node.uuid, 'origin': node.base.extras.get('origin', None), **verdict.as_dict()}
        records[key] = record
        counts[verdict.reason] = counts.get(verdict.reason, 0) + 1
        node.base.extras.set(EXTRA_SCREENING, 'kept' if verdict.kept else f'rejected:{verdict.reason}')
        if verdict.kept:
            kept[key] = copy_candidate(
                node,
                screening={
                    'energy_per_atom': record['energy_per_atom'],
                    'max_force': record['max_force'],
                },
            )
    summary = orm.Dict(
        {
            'model': backend.description if backend is not None else {'backend': 'none'},
            'thresholds': {
                'max_force': parsed.max_force,
                'energy_window': parsed.energy_window,
                'min_distance_factor': parsed.min_distance_factor,
            },
            'n_candidates': len(candidates),
            'n_kept': len(kept),
            'counts_by_reason': counts,
            'candidates': records,
        }
    )
    return {OUTPUT_VERDICTS: summary, OUTPUT_STRUCTURES: kept}


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
