"""Candidate ``StructureData`` nodes: made, copied and read the same way by every stage that handles them.

Each candidate carries its origin, generation, parent and kind twice: as attributes
(immutable, part of provenance and of the node hash) and as extras (``generation``,
``origin``, ``parent_uuid``, ``kind``) for cheap querying::

    qb.append(orm.StructureData, filters={'extras.origin': 'sqs', 'extras.generation': 0})
    qb.append(orm.StructureData, filters={'extras.kind': 'surface'})

The kind (``bulk``, ``surface``, ``molecule``) follows from the periodicity and the vacuum of
the structure (:func:`~aiida_mlip_autopipe.candidates.kinds.structure_kind`), so every stage that
makes a candidate records it the same way.

A calcfunction cannot return its own inputs, so a stage that keeps a candidate (screening,
selection, pool scoring) returns a copy with the same keys, lineage and ``candidate_uuid``
(the generated candidate it copies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiida import orm

__all__ = (
    'CANDIDATE_EXTRAS',
    'OUTPUT_STRUCTURES',
    'candidate_key',
    'candidate_node',
    'candidate_structures',
    'copy_candidate',
)

#: Output namespace of the candidate structures of every calcfunction that makes or keeps candidates.
OUTPUT_STRUCTURES = 'structures'
#: Extras every candidate carries (also stored as attributes of the same name).
CANDIDATE_EXTRAS = ('generation', 'origin', 'parent_uuid', 'kind')
#: Attributes a copied candidate keeps (``force_weights`` matters for cut-out environments).
_CARRIED_ATTRIBUTES = ('history', 'candidate_name', 'force_weights')


def candidate_key(index: int) -> str:
    """Output link key of the candidate at ``index`` (valid link label, sorts in pool order)."""
    return f'c{index:04d}'


def candidate_node(
    atoms: Any,
    origin: str,
    generation: int,
    parent_uuid: str | None = None,
    label: str | None = None,
    **attributes: Any,
) -> orm.StructureData:
    """An unstored ``StructureData`` with origin, generation and parent as attributes and extras.

    Shared with the other calcfunctions that make candidates (screening copies,
    extracted environments) so every candidate is queried the same way.
    """
    from aiida_mlip_autopipe.candidates.kinds import structure_kind

    node = orm.StructureData(ase=atoms)
    if label:
        node.label = label[:255]
    kind = structure_kind(node.get_ase())
    node.base.attributes.set('origin', origin)
    node.base.attributes.set('generation', int(generation))
    node.base.attributes.set('kind', kind)
    if parent_uuid is not None:
        node.base.attributes.set('parent_uuid', parent_uuid)
    for key, value in attributes.items():
        node.base.attributes.set(key, value)
    node.base.extras.set_many(
        {
            'origin': origin,
            'generation': int(generation),
            'kind': kind,
            **({'parent_uuid': parent_uuid} if parent_uuid else {}),
        }
    )
    return node


def candidate_structures(inputs: Mapping[str, Any]) -> dict[str, orm.StructureData]:
    """Candidates from the ``structures`` namespace (and, for convenience, top-level ``StructureData``)."""
    found: dict[str, orm.StructureData] = {}
    for key, value in inputs.items():
        if key == 'structures' and isinstance(value, Mapping):
            for inner, node in value.items():
                if not isinstance(node, orm.StructureData):
                    raise TypeError(f'structures.{inner} is a {type(node).__name__}, not a StructureData')
                found[inner] = node
        elif isinstance(value, orm.StructureData):
            found[key] = value
        else:
            raise TypeError(f'unexpected input {key!r} of type {type(value).__name__}')
    if not found:
        raise ValueError('no candidate structures given; pass them as structures={key: StructureData}')
    return dict(sorted(found.items()))


def copy_candidate(node: orm.StructureData, **attributes: Any) -> orm.StructureData:
    """A new candidate node copying ``node``'s structure, origin, generation and parent."""
    attrs = node.base.attributes
    extras = node.base.extras
    origin = attrs.get('origin', None) or extras.get('origin', 'unknown')
    generation = attrs.get('generation', None)
    if generation is None:
        generation = extras.get('generation', 0)
    parent_uuid = attrs.get('parent_uuid', None) or extras.get('parent_uuid', None)
    carried = {key: attrs.get(key) for key in _CARRIED_ATTRIBUTES if attrs.get(key, None) is not None}
    clone = candidate_node(
        node.get_ase(),
        origin,
        int(generation),
        parent_uuid,
        label=node.label,
        candidate_uuid=attrs.get('candidate_uuid', None) or node.uuid,
        **carried,
        **attributes,
    )
    return clone
