"""Read what a warm start needs from a pacemaker B-basis potential file (``output_potential.yaml``).

The file lists ``species`` blocks (``speciesblock: Si`` or ``Si Ge``...), each with its
radial cutoff ``rcutij`` and its ``nbody`` functions; the fit's reference energies are a
JSON string in ``metadata.reference_energy``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ('PotentialSummary', 'load_potential_yaml', 'summarize_potential')


@dataclass(frozen=True)
class PotentialSummary:
    """Elements, cutoff (Å), functions per central element and reference energies (eV) of a potential."""

    elements: list[str]
    cutoff: float | None
    functions_per_element: dict[str, int] = field(default_factory=dict)
    reference_energy: dict[str, float] | None = None

    @property
    def number_of_functions(self) -> int:
        """Total number of basis functions."""
        return sum(self.functions_per_element.values())


def load_potential_yaml(text: str) -> dict[str, Any]:
    """Parse a pacemaker potential YAML; ``ValueError`` when it is not one."""
    import yaml

    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f'potential YAML cannot be read: {exc}') from None
    if not isinstance(content, dict) or not isinstance(content.get('species'), list):
        raise ValueError('not a pacemaker B-basis potential: no "species" list')
    return content


def summarize_potential(content: dict[str, Any]) -> PotentialSummary:
    """Summary of a parsed B-basis potential (see :func:`load_potential_yaml`)."""
    elements: set[str] = set()
    cutoffs = []
    functions: Counter[str] = Counter()
    for block in content.get('species', []):
        names = str(block.get('speciesblock', '')).split()
        if not names:
            continue
        elements.update(names)
        if len(names) <= 2 and 'rcutij' in block:
            cutoffs.append(float(block['rcutij']))
        functions[names[0]] += len(block.get('nbody') or [])
    reference = None
    raw = (content.get('metadata') or {}).get('reference_energy')
    if raw:
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else dict(raw)
            reference = {str(k): float(v) for k, v in parsed.items()}
        except (TypeError, ValueError):
            reference = None
    return PotentialSummary(
        elements=sorted(elements),
        cutoff=max(cutoffs) if cutoffs else None,
        functions_per_element=dict(sorted(functions.items())),
        reference_energy=reference,
    )
