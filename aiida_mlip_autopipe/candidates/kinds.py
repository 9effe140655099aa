"""What kind of system a structure is (bulk crystal, slab, isolated molecule or cluster) and its vacuum.

Every stage that treats the three differently asks the same two questions, answered here once:

- :func:`kind_of`: the kind from the periodicity (``pbc``) of a structure: periodic in three
  directions is ``bulk``, in the first two (``pbc = (True, True, False)``, the slab normal along
  the third cell vector) is ``surface``, in none is ``molecule`` (one molecule or a cluster).
  Candidates carry their periodicity in ``pbc``; pw.x and LAMMPS still see a periodic box, with
  vacuum along the non-periodic directions;
- :func:`vacuum_gaps` / :func:`vacuum_axes`: how much empty space separates the atoms from their
  periodic images along each cell vector, for frames that come back from a periodic MD box
  (which say ``pbc = True`` everywhere) and must be recognised as slabs or clusters again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'KINDS',
    'PBC_OF_KIND',
    'Kind',
    'kind_of',
    'make_contiguous',
    'periodic_for_gaps',
    'plane_heights',
    'vacuum_axes',
    'vacuum_gaps',
)

Kind = Literal['bulk', 'surface', 'molecule']
#: The kinds, in the order the config and the docs list them.
KINDS: tuple[str, ...] = ('bulk', 'surface', 'molecule')
#: Periodicity of each kind (a slab is periodic in the plane of its first two cell vectors).
PBC_OF_KIND: dict[str, tuple[bool, bool, bool]] = {
    'bulk': (True, True, True),
    'surface': (True, True, False),
    'molecule': (False, False, False),
}


def kind_of(pbc: Sequence[bool]) -> Kind:
    """``bulk``, ``surface`` or ``molecule`` from the periodicity of a structure.

    Other periodicities (a wire, a slab whose normal is not the third cell vector) have no
    settings of their own: they are an error rather than a silent guess.
    """
    flags = tuple(bool(p) for p in pbc)
    for kind, expected in PBC_OF_KIND.items():
        if flags == expected:
            return kind  # type: ignore[return-value]
    raise ValueError(
        f'pbc {list(flags)} is none of bulk (all periodic), surface (periodic in the first two cell vectors, '
        'the slab normal along the third) or molecule (none periodic)'
    )


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

    Only the periodicities of :func:`kind_of` are returned: a gap along one in-plane vector
    alone (a wire, a slab with its normal elsewhere) leaves the frame periodic (``True``),
    since nothing downstream has settings for it.
    """
    vacuum = vacuum_axes(atoms, min_gap)
    pbc = tuple(bool(p) and not v for p, v in zip(atoms.pbc, vacuum, strict=True))
    try:
        kind_of(pbc)
    except ValueError:
        return tuple(bool(p) for p in atoms.pbc)  # type: ignore[return-value]
    return pbc  # type: ignore[return-value]


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
