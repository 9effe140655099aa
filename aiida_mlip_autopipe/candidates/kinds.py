"""What kind of system a structure is (bulk crystal, slab, isolated molecule or cluster) and its vacuum.

Every stage that treats the three differently asks the same questions, answered here once.

How each kind is stored: a **molecule** (one or a cluster) has ``pbc`` all False and a box with
vacuum on every side; a **slab** is a *periodic* box (``pbc`` all True) whose third cell vector
is along the surface normal, with at least :data:`SLAB_GAP` Å of vacuum between the slab and
its image along it; a **bulk** crystal is periodic and dense. Slabs are periodic boxes, not
``pbc = (True, True, False)``, because pyace and pacemaker take only fully periodic or fully
non-periodic cells ("Only fully periodic or non-periodic cell are supported"); across a vacuum
wider than the ACE cutoff a periodic box is the isolated slab to the potential, and pw.x sees a
periodic box either way. The slab builder makes the box tall enough that a k-point mesh from
``dft.kpoints_distance`` has exactly one point along the normal (:func:`single_kpoint_height`).

- :func:`structure_kind`: the kind of a structure, from its periodicity and its vacuum gaps;
- :func:`vacuum_gaps` / :func:`vacuum_axes`: how much empty space separates the atoms from their
  periodic images along each cell vector, for frames that come back from a periodic MD box
  and must be recognised as slabs or clusters again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'KINDS',
    'PBC_OF_KIND',
    'SLAB_GAP',
    'Kind',
    'make_contiguous',
    'periodic_for_gaps',
    'plane_heights',
    'single_kpoint_height',
    'structure_kind',
    'vacuum_axes',
    'vacuum_gaps',
)

Kind = Literal['bulk', 'surface', 'molecule']
#: The kinds, in the order the config and the docs list them.
KINDS: tuple[str, ...] = ('bulk', 'surface', 'molecule')
#: Periodicity the structures of each kind carry (slabs are periodic boxes: see the module docstring).
PBC_OF_KIND: dict[str, tuple[bool, bool, bool]] = {
    'bulk': (True, True, True),
    'surface': (True, True, True),
    'molecule': (False, False, False),
}
#: Least vacuum gap (Å) along the third cell vector of a periodic box for it to be a slab: twice
#: the least vacuum per side of the config (:data:`~aiida_mlip_autopipe.candidates.systems.MIN_VACUUM`).
#: A dense crystal has gaps of about one interplanar distance.
SLAB_GAP = 6.0


def structure_kind(atoms: Atoms) -> Kind:
    """``molecule`` (no periodic direction, or vacuum all round), ``surface`` or ``bulk``.

    A periodic box is a slab when the atoms leave a gap of at least :data:`SLAB_GAP` Å along its
    third cell vector only; ``pbc = (True, True, False)`` (ASE's slabs) is a slab too.
    """
    pbc = tuple(bool(p) for p in atoms.pbc)
    if not any(pbc):
        return 'molecule'
    if pbc == (True, True, False):
        return 'surface'
    if not all(pbc):
        raise ValueError(f'pbc {list(pbc)}: give a crystal or slab (all True) or a molecule (all False)')
    gaps = vacuum_gaps(atoms)
    wide = gaps >= SLAB_GAP
    if wide.all():
        return 'molecule'
    if wide[2] and not wide[:2].any():
        return 'surface'
    return 'bulk'


def single_kpoint_height(kpoints_distance: float) -> float:
    """Length (Å) of a cell vector along which a mesh of spacing ``kpoints_distance`` (Å⁻¹) has one point.

    aiida-quantumespresso puts ``ceil(|b|/distance)`` points along a reciprocal vector ``b``;
    for a cell vector perpendicular to the other two, ``|b| = 2π / length``.
    """
    return 2 * math.pi / float(kpoints_distance) + 0.01


def plane_heights(cell: np.ndarray) -> np.ndarray:
    """Distance between the opposite faces of the cell, for each cell vector (Å)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    areas = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return volume / areas


def vacuum_gaps(atoms: Atoms) -> np.ndarray:
    """Widest empty slab (Å) between the atoms and their periodic images along each cell vector.

    Measured perpendicular to the planes spanned by the other two vectors: the largest gap
    between consecutive fractional coordinates (wrapped, the gap across the cell boundary
    included), times the plane spacing. A dense crystal gives about one interplanar distance,
    a slab its vacuum along the normal, a molecule in a box its vacuum in every direction.
    """
    if len(atoms) == 0:
        return plane_heights(atoms.cell.array)
    frac = atoms.cell.scaled_positions(atoms.positions) % 1.0
    heights = plane_heights(atoms.cell.array)
    gaps = np.empty(3)
    for axis in range(3):
        values = np.sort(frac[:, axis])
        steps = np.diff(np.concatenate([values, [values[0] + 1.0]]))
        gaps[axis] = float(steps.max()) * heights[axis]
    return gaps


def vacuum_axes(atoms: Atoms, min_gap: float) -> tuple[bool, bool, bool]:
    """Per cell vector, whether the atoms leave a gap of at least ``min_gap`` Å to their periodic images."""
    return tuple(bool(g >= min_gap) for g in vacuum_gaps(atoms))  # type: ignore[return-value]


def periodic_for_gaps(atoms: Atoms, min_gap: float) -> tuple[bool, bool, bool]:
    """The periodicity a frame of a periodic box really has: no periodic direction across a vacuum gap.

    ``(True, True, False)`` for a slab (a gap along the third cell vector only), all False for a
    cluster (gaps all round); anything else (a wire, a gap along an in-plane vector) leaves the
    frame as periodic as it was, since nothing downstream has settings for it.
    """
    vacuum = vacuum_axes(atoms, min_gap)
    pbc = tuple(bool(p) and not v for p, v in zip(atoms.pbc, vacuum, strict=True))
    if pbc in ((True, True, True), (True, True, False), (False, False, False)):
        return pbc  # type: ignore[return-value]
    return tuple(bool(p) for p in atoms.pbc)  # type: ignore[return-value]


def make_contiguous(atoms: Atoms, axes: Sequence[bool]) -> Atoms:
    """A copy of ``atoms`` with, along each flagged cell vector, the widest gap moved to the cell boundary.

    A slab or cluster that drifted across the boundary of a periodic MD box is split in two;
    shifting each atom by whole cell vectors puts it back in one piece (no distance changes:
    the shifts are lattice vectors), between fractional coordinates 0 and 1 along those axes.
    """
    result = atoms.copy()
    if len(result) == 0:
        return result
    frac = result.cell.scaled_positions(result.positions)
    for axis, flagged in enumerate(axes):
        if not flagged:
            continue
        wrapped = frac[:, axis] % 1.0
        order = np.argsort(wrapped)
        values = wrapped[order]
        steps = np.diff(np.concatenate([values, [values[0] + 1.0]]))
        widest = int(np.argmax(steps))
        # Atoms above the gap start the piece; those below it (up to the gap) come after them.
        start = values[(widest + 1) % len(values)]
        frac[:, axis] = (wrapped - start) % 1.0
    result.positions = frac @ result.cell.array
    return result
