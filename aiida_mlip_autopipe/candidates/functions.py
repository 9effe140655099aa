"""The calcfunction that turns a config into candidate ``StructureData`` nodes with provenance.

A calcfunction (not workchain code) creates the candidates, so the graph links every
candidate to the config and seed that made it; running it again with the same inputs
gives the same structures. The nodes come from
:func:`~aiida_mlip_autopipe.candidates.nodes.candidate_node`: origin, generation and
parent as attributes and as extras, for cheap queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, candidate_key, candidate_node

if TYPE_CHECKING:
    from aiida_mlip_autopipe.candidates.builder import Candidate

__all__ = ('OUTPUT_METADATA', 'generate_candidates')

#: Output ``Dict`` with one record per candidate and the SQS objectives.
OUTPUT_METADATA = 'metadata'


def _record(key: str, candidate: Candidate, node: orm.StructureData, parent_key: str | None) -> dict[str, Any]:
    return {
        'key': key,
        'name': candidate.name,
        'origin': candidate.origin,
        'kind': candidate.kind,
        'history': list(candidate.history),
        'parent': parent_key,
        'uuid': node.uuid,
        'n_atoms': len(candidate.atoms),
        'formula': candidate.atoms.get_chemical_formula(),
        'details': candidate.details,
    }


@calcfunction
def generate_candidates(
    config: orm.Dict,
    seed: orm.Int,
    structure: orm.StructureData | None = None,
    generation: orm.Int | None = None,
) -> dict[str, Any]:
    """Build the candidate pool described by ``config`` (an ``MLIPConfig`` as dict) for ``seed``.

    :param config: the whole run configuration (``MLIPConfig.to_dict()``); ``target`` and
        ``generator`` are used.
    :param seed: seed of every random choice (SQS annealing, strains, rattles, defects).
    :param structure: optional base cell replacing ``target.prototype``/``structure_file``;
        pass it when the config names a structure file, so its content is in the provenance.
    :param generation: generation number written on the candidates (default 0).
    :returns: ``structures`` (namespace ``c0000``...: ``StructureData``) and ``metadata``
        (``Dict``: one record per candidate, the SQS objectives, warnings, base cell).
    """
    from aiida_mlip_autopipe.candidates.builder import build_candidates
    from aiida_mlip_autopipe.config import parse_config

    parsed = parse_config(config.get_dict(), source=f'Dict<{config.pk}>')
    generation_value = 0 if generation is None else int(generation.value)
    base_atoms = structure.get_ase() if structure is not None else None
    pool = build_candidates(parsed, int(seed.value), base_atoms)

    nodes: list[orm.StructureData] = []
    records = []
    keys = [candidate_key(i) for i in range(len(pool.candidates))]
    for key, candidate in zip(keys, pool.candidates, strict=True):
        if candidate.parent is not None:
            parent_uuid = nodes[candidate.parent].uuid
            parent_key = keys[candidate.parent]
        else:
            parent_uuid = structure.uuid if structure is not None else None
            parent_key = None
        node = candidate_node(
            candidate.atoms,
            candidate.origin,
            generation_value,
            parent_uuid,
            label=f'gen{generation_value:02d}/{candidate.name}',
            history=list(candidate.history),
            candidate_name=candidate.name,
        )
        nodes.append(node)
        records.append(_record(key, candidate, node, parent_key))

    metadata = orm.Dict(
        {
            'generation': generation_value,
            'seed': int(seed.value),
            'n_candidates': len(nodes),
            'counts_by_origin': _count(records),
            'counts_by_kind': _count(records, 'kind'),
            'candidates': records,
            'sqs': pool.sqs,
            'base': pool.base,
            'dropped': pool.dropped,
            'warnings': pool.warnings,
        }
    )
    return {OUTPUT_STRUCTURES: dict(zip(keys, nodes, strict=True)), OUTPUT_METADATA: metadata}


def _count(records: list[dict[str, Any]], key: str = 'origin') -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record[key]] = counts.get(record[key], 0) + 1
    return counts
