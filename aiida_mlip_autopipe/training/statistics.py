"""What the input generator needs to know about a training set, computed once from its frames.

The shortest distance per element pair decides where the short-range repulsion may
start; the element list fixes the basis; counts go into the fit's metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ('DatasetStatistics', 'dataset_statistics', 'pair_key')

#: Distances beyond this (Å) are not searched for the shortest pair distance: no sane
#: inner cutoff lies above it, and a short search radius keeps large sets fast.
MIN_DISTANCE_SEARCH_RADIUS = 4.0


def pair_key(first: str, second: str) -> str:
    """Canonical name of an element pair, alphabetical: ``pair_key('Si', 'Ge') == 'Ge-Si'``."""
    a, b = sorted((first, second))
    return f'{a}-{b}'


@dataclass(frozen=True)
class DatasetStatistics:
    """Summary of a set of labelled frames (all distances in Å, energies in eV)."""

    elements: list[str]
    num_frames: int
    num_atoms: int
    #: Number of atoms of each element over all frames.
    atoms_per_element: dict[str, int] = field(default_factory=dict)
    #: Shortest interatomic distance per pair (``pair_key`` order); pairs never closer
    #: than ``MIN_DISTANCE_SEARCH_RADIUS`` are absent.
    min_distance: dict[str, float] = field(default_factory=dict)
    energy_per_atom_range: tuple[float, float] | None = None
    max_force: float | None = None
    has_force_weights: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form (for metadata and regression tests)."""
        data = asdict(self)
        data['energy_per_atom_range'] = list(self.energy_per_atom_range) if self.energy_per_atom_range else None
        return data


def _min_distances(atoms: Any, radius: float) -> dict[str, float]:
    from ase.neighborlist import neighbor_list

    if len(atoms) < 2 and not any(atoms.pbc):
        return {}
    i, j, d = neighbor_list('ijd', atoms, radius, self_interaction=False)
    if not len(d):
        return {}
    symbols = np.array(atoms.get_chemical_symbols())
    out: dict[str, float] = {}
    for a, b, dist in zip(symbols[i], symbols[j], d):
        key = pair_key(str(a), str(b))
        if dist < out.get(key, np.inf):
            out[key] = float(dist)
    return out


def dataset_statistics(
    frames: Sequence[Any] | Iterable[Any], radius: float = MIN_DISTANCE_SEARCH_RADIUS
) -> DatasetStatistics:
    """Elements, counts, shortest pair distances, energy range and largest force of ``frames``.

    ``frames`` are ASE ``Atoms`` with a calculator holding energy and forces (as
    ``TrainingSetData.get_frames()`` returns them).
    """
    counts: dict[str, int] = {}
    num_frames = 0
    num_atoms = 0
    min_distance: dict[str, float] = {}
    energies: list[float] = []
    max_force = 0.0
    has_weights = False
    for atoms in frames:
        num_frames += 1
        num_atoms += len(atoms)
        for symbol in atoms.get_chemical_symbols():
            counts[symbol] = counts.get(symbol, 0) + 1
        for key, value in _min_distances(atoms, radius).items():
            if value < min_distance.get(key, np.inf):
                min_distance[key] = value
        results = getattr(atoms.calc, 'results', {}) if atoms.calc is not None else {}
        if 'energy' in results and len(atoms):
            energies.append(float(results['energy']) / len(atoms))
        if 'forces' in results and len(atoms):
            max_force = max(max_force, float(np.linalg.norm(np.asarray(results['forces']), axis=1).max()))
        has_weights = has_weights or 'force_weight' in atoms.arrays
    return DatasetStatistics(
        elements=sorted(counts),
        num_frames=num_frames,
        num_atoms=num_atoms,
        atoms_per_element=dict(sorted(counts.items())),
        min_distance=dict(sorted(min_distance.items())),
        energy_per_atom_range=(min(energies), max(energies)) if energies else None,
        max_force=max_force if num_frames else None,
        has_force_weights=has_weights,
    )
