"""Read what a warm start needs from a pacemaker B-basis potential file (``output_potential.yaml``).

The file lists ``species`` blocks (``speciesblock: Si`` or ``Si Ge``...), each with its
radial cutoff ``rcutij`` and its ``nbody`` functions; the fit's reference energies are a
JSON string in ``metadata.reference_energy``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ('PotentialSummary', 'load_potential_yaml', 'parse_reference_energy', 'summarize_potential')


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


def parse_reference_energy(raw: Any, source: str = 'the potential YAML') -> dict[str, float] | None:
    """The reference energies of ``metadata.reference_energy`` (a JSON string or a mapping), or None when absent.

    A block that is there but is not a mapping of element (or ``shift``) to a finite number
    is an error naming ``source`` and the block: reading it as "no reference energies" would
    silently switch the next fit to ``reference_energy: auto`` and shift every energy.
    """
    if raw is None or raw == '':
        return None
    block = f'{source}: metadata.reference_energy'
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ValueError(f'{block} is not valid JSON ({exc}): {str(raw)[:120]!r}') from None
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f'{block} must map elements (and "shift") to energies in eV, got {str(raw)[:120]!r}')
    from aiida_mlip_autopipe.config.base import chemical_symbols

    symbols = chemical_symbols()
    reference: dict[str, float] = {}
    for key, value in parsed.items():
        if str(key) != 'shift' and str(key) not in symbols:
            raise ValueError(f'{block} has the key {key!r}, which is neither an element nor "shift"')
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f'{block}[{key}] = {value!r} is not a number (eV)') from None
        if not math.isfinite(number):
            raise ValueError(f'{block}[{key}] = {value!r} is not a finite number (eV)')
        reference[str(key)] = number
    return reference


def summarize_potential(content: dict[str, Any], source: str = 'the potential YAML') -> PotentialSummary:
    """Summary of a parsed B-basis potential (see :func:`load_potential_yaml`).

    ``source`` names the file in errors (a malformed reference-energy block is one, see
    :func:`parse_reference_energy`).
    """
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
    reference = parse_reference_energy((content.get('metadata') or {}).get('reference_energy'), source)
    return PotentialSummary(
        elements=sorted(elements),
        cutoff=max(cutoffs) if cutoffs else None,
        functions_per_element=dict(sorted(functions.items())),
        reference_energy=reference,
    )
