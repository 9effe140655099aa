"""Interatomic distances with periodic images: the overlapping-atoms checks of several stages.

The config (a user's structure file), the labelling (before pw.x runs) and the candidate
generation (defects) all ask how close two atoms are; they share these two functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('closest_pair', 'min_distance')


def closest_pair(atoms: Atoms, cutoff: float) -> tuple[int, int, float] | None:
    """The two closest atoms ``(i, j, distance)`` if any pair is closer than ``cutoff`` Å (periodic images included).

    ``i == j`` means an atom and its own periodic image. A neighbour list within the cutoff
    scales with the number of atoms, where :func:`min_distance` compares all pairs.
    """
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list('ijd', atoms, cutoff, self_interaction=False)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    return int(i[k]), int(j[k]), float(d[k])


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance in Å, periodic images included (``inf`` for one atom in a big box)."""
    from ase.geometry import get_distances

    if len(atoms) < 2 and not atoms.pbc.any():
        return float('inf')
    _, dist = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    np.fill_diagonal(dist, np.inf)
    shortest = float(dist.min()) if len(atoms) > 1 else float('inf')
    if atoms.pbc.all():
        # An atom and its own image: the shortest lattice vector.
        from ase.geometry import minkowski_reduce

        reduced, _ = minkowski_reduce(atoms.cell.array)
        shortest = min(shortest, float(np.linalg.norm(reduced, axis=1).min()))
    return shortest
