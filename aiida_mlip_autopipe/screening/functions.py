"""The calcfunction that screens candidates with a universal model, so every verdict is in the provenance graph.

A calcfunction cannot return its own inputs, so the structures that pass come out as new
``StructureData`` nodes (:func:`~aiida_mlip_autopipe.candidates.nodes.copy_candidate`) with the
same keys and lineage plus ``candidate_uuid``. The ``verdicts`` ``Dict`` holds one record per
input candidate: kept or rejected, and the number that decided it.

Typical use from a work chain (``config`` an ``MLIPConfig``)::

    screened = screen_candidates(
        model=model_input(config.screening.model), settings=screening_settings(config), structures=candidates
    )
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, candidate_structures, copy_candidate

__all__ = ('OUTPUT_VERDICTS', 'model_input', 'screen_candidates', 'screening_settings')

OUTPUT_VERDICTS = 'verdicts'
#: Extra set on each input candidate by ``screen_candidates`` for quick queries
#: ('kept' or 'rejected:<reason>'); the ``verdicts`` Dict is the provenance record.
EXTRA_SCREENING = 'screening_verdict'


def screening_settings(config: Any) -> orm.Dict:
    """The ``settings`` Dict of ``screen_candidates``: the ``screening`` section.

    :param config: an ``MLIPConfig`` (or its dict).
    """
    from aiida_mlip_autopipe.config import MLIPConfig

    parsed = config if isinstance(config, MLIPConfig) else MLIPConfig.model_validate(dict(config))
    return orm.Dict(parsed.screening.model_dump(mode='json'))


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


def _model_backend(model: orm.Data, settings: Any):
    from aiida_mlip_autopipe.screening.backends import load_backend

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
    from aiida_mlip_autopipe.screening.core import screen

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
