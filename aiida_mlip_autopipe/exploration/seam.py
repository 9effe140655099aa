"""The seam of a cut-out: where a periodic box of atoms cut from a frame meets its own image.

A cut-out box (bulk, :mod:`~aiida_mlip_autopipe.exploration.extraction`) or in-plane window
(slab, :mod:`~aiida_mlip_autopipe.exploration.isolated`) is periodic, so its faces meet their
own images: a planar defect the frame does not have. It lies at least ``core_radius + buffer``
from the centres, among buffer atoms, so it never changes a centre's neighbourhood, but DFT
still has to be able to label it:

* :func:`seam_lengths` picks box edges whose seam looks like the frame (its density and its
  nearest-neighbour distance): an arbitrary length can put two atomic planes almost on top of
  each other across the seam;
* :func:`trim_seam` removes, pair by pair, the atom farther from the centres of every pair
  across the seam closer than ``min_distance_factor`` × the sum of covalent radii; pairs that
  do not cross the seam are the frame's own and are never touched;
* :func:`seam_distance_of` measures what is left (reported with each cut-out).

Bulk boxes and slab windows share the trimming and the measuring: the same rule, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ('neighbor_list', 'seam_distance_of', 'seam_lengths', 'trim_seam')


def neighbor_list(quantities: str, atoms: Any, cutoff: float) -> tuple[np.ndarray, ...]:
    """ASE's ``neighbor_list`` interface, computed by matscipy when installed (about 30× faster)."""
    try:
        from matscipy.neighbours import neighbour_list
    except ImportError:  # pragma: no cover - matscipy comes with python-ace
        from ase.neighborlist import neighbor_list as neighbour_list
    return neighbour_list(quantities, atoms, cutoff)


def seam_lengths(
    atoms: Any,
    minimum: np.ndarray,
    max_extension: float,
    fill: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None],
    symbols: np.ndarray,
) -> np.ndarray:
    """Edges of the box cut from ``atoms``: each of ``minimum`` grown by up to ``max_extension`` Å.

    Each axis in turn gets the extension (a 0.1 Å grid) whose seam comes closest to the frame:
    the box's density against the frame's, plus the shortfall of the shortest distance across
    that seam below 0.9 × the frame's median nearest-neighbour distance. ``fill(lengths)`` gives
    the positions and frame indices of the atoms of a box of those edges (``None``: the box
    would meet its own image); ``symbols`` are the chemical symbols of the frame's atoms.
    """
    from ase import Atoms
    from ase.data import covalent_radii

    frame_density = len(atoms) / atoms.get_volume()

    def seam_quality(lengths: np.ndarray, axis: int, cutoff: float) -> float:
        """Lower is better: density mismatch plus the shortfall of the seam distance."""
        filled = fill(lengths)
        if filled is None:
            return np.inf
        box = Atoms(symbols=list(symbols[filled[1]]), positions=filled[0], cell=np.diag(lengths), pbc=True)
        _, _, d, shift = neighbor_list('ijdS', box, cutoff)
        across = shift[:, axis] != 0
        shortest = float(d[across].min()) if np.any(across) else cutoff
        density = len(box) / box.get_volume()
        return abs(density / frame_density - 1.0) + max(0.0, cutoff - shortest) / cutoff

    i_nn, d_nn = neighbor_list('id', atoms, 4.0 * covalent_radii[atoms.numbers].max())
    nearest_of = np.full(len(atoms), np.inf)
    np.minimum.at(nearest_of, i_nn, d_nn)
    finite = nearest_of[np.isfinite(nearest_of)]
    target = 0.9 * float(np.median(finite)) if finite.size else 0.0
    lengths = minimum.copy()
    if target > 0 and max_extension > 0:
        for axis in range(3):
            scores = []
            for extra in np.arange(0.0, max_extension + 1e-9, 0.1):
                trial = lengths.copy()
                trial[axis] = minimum[axis] + extra
                scores.append((seam_quality(trial, axis, target), extra))
            best = min(scores, key=lambda item: (round(item[0], 6), item[1]))
            lengths[axis] = minimum[axis] + best[1]
    return lengths


def trim_seam(
    box: Any,
    source_indices: np.ndarray,
    nearest: np.ndarray,
    core: np.ndarray,
    centres_in_box: list[int],
    min_distance_factor: float,
    what: str = 'box',
) -> dict[str, Any]:
    """``box`` without the atoms that overlap across its seam, and the bookkeeping that follows them.

    Of the closest pair across the seam below ``min_distance_factor`` × the sum of covalent radii,
    the atom with the larger ``nearest`` (distance to the nearest centre) goes, until none is left.
    A core atom there would mean the box is too small for its centres: a bug, raised as such.
    Returns ``atoms``, ``source_indices`` and ``core_mask`` of the atoms kept, ``centres_in_box``
    renumbered, and ``removed_at_seam``.
    """
    from ase.data import covalent_radii

    keep = np.ones(len(box), dtype=bool)
    removed = 0
    radii = covalent_radii[box.numbers]
    cutoff = 2 * radii.max() * min_distance_factor
    while True:
        current = np.flatnonzero(keep)
        i, j, d, shift = neighbor_list('ijdS', box[current], cutoff)
        across = np.any(shift != 0, axis=1)
        limit = min_distance_factor * (radii[current][i] + radii[current][j])
        bad = np.flatnonzero(across & (d < limit))
        if len(bad) == 0:
            break
        worst = bad[np.argmin(d[bad])]
        a, b = current[i[worst]], current[j[worst]]
        victim = a if nearest[a] >= nearest[b] else b
        if core[victim]:
            raise RuntimeError(f'a core atom lies on the seam of its {what}; this is a bug')
        keep[victim] = False
        removed += 1
    index_map = -np.ones(len(box), dtype=int)
    index_map[keep] = np.arange(int(keep.sum()))
    return {
        'atoms': box[np.flatnonzero(keep)],
        'source_indices': source_indices[keep],
        'core_mask': core[keep],
        'centres_in_box': [int(index_map[c]) for c in centres_in_box],
        'removed_at_seam': removed,
    }


def seam_distance_of(box: Any, cutoff: float = 6.0) -> float | None:
    """Shortest distance between two atoms whose bond crosses the box boundary (None if none within cutoff)."""
    _, _, d, shift = neighbor_list('ijdS', box, cutoff)
    across = np.any(shift != 0, axis=1)
    return float(d[across].min()) if np.any(across) else None
