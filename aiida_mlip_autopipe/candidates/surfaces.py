"""Slabs: a surface of the bulk lattice by Miller index, number of atomic layers and vacuum.

Pure ASE (``Atoms`` in, ``Atoms`` out), like :mod:`~aiida_mlip_autopipe.candidates.bulk`.

- **Miller indices** refer to the conventional cell, as in every textbook: the cubic cell of
  the cubic prototypes, the hexagonal cell of hcp and wurtzite (four-index Miller–Bravais
  ``(h k i l)`` with ``i = -(h + k)`` is accepted there), or the cell of a structure file. The
  slab itself is cut from the primitive cell, so its in-plane cell is the smallest one of the
  plane (fcc(111): one atom per layer, not ASE's four of the cubic cell).
- **Layers** are atomic planes (positions along the normal that differ by more than 0.01 Å),
  counted from the bottom of the cut: ``layers: 4`` of diamond (100) is four planes of one atom
  per 1×1 cell.
- **Vacuum** is added on each side, so periodic images of the slab are ``2 × vacuum`` apart.
  The cell's third vector is along the normal (``z``), the first two in the surface plane; the
  box is periodic (``pbc`` all True, as pyace and pacemaker need: see
  :mod:`~aiida_mlip_autopipe.candidates.kinds`), and ``min_height`` makes it tall enough for a
  k-point mesh of the labelling's spacing to have one point along the normal
  (:func:`~aiida_mlip_autopipe.candidates.kinds.single_kpoint_height`): more vacuum, evenly on
  both sides, never less than asked for.
- :func:`oriented_bulk` is the periodic bulk cell with the slab's in-plane cell (the reference
  of the surface energy: same in-plane k-point mesh, errors cancel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'HEXAGONAL_PROTOTYPES',
    'PLANE_TOLERANCE',
    'adatoms',
    'atomic_planes',
    'build_slab',
    'conventional_cell',
    'in_plane_repeat',
    'in_plane_strain',
    'miller_three',
    'oriented_bulk',
    'primitive_indices',
    'random_in_plane_strain',
    'slab_area',
)

#: Prototypes whose Miller indices refer to the hexagonal cell (three- or four-index notation).
HEXAGONAL_PROTOTYPES = ('hcp', 'wurtzite')
#: Atoms closer than this along the normal (Å) belong to one atomic plane.
PLANE_TOLERANCE = 0.01


def miller_three(indices: Sequence[int], hexagonal: bool) -> tuple[int, int, int]:
    """Three Miller indices from three, or from four-index Miller–Bravais ``(h k i l)`` on a hexagonal lattice.

    Refused: all zeros (no plane), four indices on a non-hexagonal lattice, ``i != -(h + k)``,
    and indices with a common factor (``(2 0 0)`` is the plane ``(1 0 0)``; write that).
    """
    values = [int(v) for v in indices]
    if len(values) == 4:
        if not hexagonal:
            raise ValueError(
                f'four Miller–Bravais indices {values} need a hexagonal lattice (hcp, wurtzite); give three indices'
            )
        h, k, i, l = values  # noqa: E741 - the standard name of the fourth index
        if i != -(h + k):
            raise ValueError(f'Miller–Bravais indices {values}: the third must be -(h + k) = {-(h + k)}')
        values = [h, k, l]
    if len(values) != 3:
        raise ValueError(f'Miller indices {values}: give three integers (or four on a hexagonal lattice)')
    if not any(values):
        raise ValueError(f'Miller indices {values} are all zero: they name no plane')
    common = reduce(math.gcd, (abs(v) for v in values))
    if common > 1:
        reduced = [v // common for v in values]
        raise ValueError(f'Miller indices {values} have the common factor {common}: the plane is {reduced}; write that')
    return values[0], values[1], values[2]


#: Primitive cells in the cubic cell of each cubic prototype (fcc-based 4, bcc 2, simple cubic 1).
_PRIMITIVES_PER_CUBE = {
    'fcc': 4,
    'diamond': 4,
    'rocksalt': 4,
    'zincblende': 4,
    'fluorite': 4,
    'bcc': 2,
    'sc': 1,
    'cesiumchloride': 1,
}


def conventional_cell(prototype: str | None, primitive: Atoms) -> np.ndarray:
    """The cell (rows, Å) Miller indices refer to: the cube of a cubic prototype, else the primitive cell itself.

    ASE builds the primitive cells of the cubic prototypes in the frame of their cube, so the
    cube is ``a`` times the identity, with ``a³`` the volume of its primitive cells.
    """
    if prototype is None or prototype not in _PRIMITIVES_PER_CUBE:
        return np.asarray(primitive.cell.array, dtype=float)
    a = (abs(primitive.get_volume()) * _PRIMITIVES_PER_CUBE[prototype]) ** (1 / 3)
    return np.eye(3) * a


def primitive_indices(conventional: np.ndarray, primitive_cell: np.ndarray, miller: Sequence[int]) -> tuple[int, ...]:
    """The plane ``miller`` (of the ``conventional`` cell) as integer indices of the ``primitive_cell``.

    The normal ``n = Σ h_i b_i`` (reciprocal vectors of the conventional cell) has components
    ``n · a_j`` on the reciprocal vectors of the primitive cell; they are rational, and
    scaled to the smallest integers they name the same plane.
    """
    normal = np.asarray(miller, dtype=float) @ np.linalg.inv(np.asarray(conventional, dtype=float)).T
    components = np.asarray(primitive_cell, dtype=float) @ normal
    nonzero = np.abs(components[np.abs(components) > 1e-8])
    for scale in range(1, 25):
        trial = components / nonzero.min() * scale
        if np.allclose(trial, np.rint(trial), atol=1e-6):
            integers = np.rint(trial).astype(int)
            common = reduce(math.gcd, (abs(int(v)) for v in integers))
            return tuple(int(v) // common for v in integers)
    raise ValueError(f'plane {list(miller)} has no small integer indices in the primitive cell')  # pragma: no cover


def atomic_planes(atoms: Atoms, tolerance: float = PLANE_TOLERANCE) -> list[np.ndarray]:
    """Indices of the atoms of each atomic plane along ``z``, from the bottom up."""
    order = np.argsort(atoms.positions[:, 2], kind='stable')
    planes: list[list[int]] = []
    last = None
    for index in order:
        z = atoms.positions[index, 2]
        if last is None or z - last > tolerance:
            planes.append([])
        planes[-1].append(int(index))
        last = z
    return [np.asarray(p, dtype=int) for p in planes]


def build_slab(
    primitive: Atoms,
    conventional: np.ndarray,
    miller: Sequence[int],
    layers: int,
    vacuum: float,
    repeat: Sequence[int] = (1, 1),
    min_height: float = 0.0,
) -> Atoms:
    """A slab of ``layers`` atomic planes of the ``miller`` surface, ``vacuum`` Å on each side.

    ``repeat`` multiplies the smallest in-plane cell. The result has its first two cell
    vectors in the surface plane, the third along ``z`` (``2 × vacuum`` plus the slab thickness,
    at least ``min_height``) and ``pbc`` all True; the slab sits in the middle of the box.
    """
    from ase.build import surface

    if layers < 1:
        raise ValueError(f'layers must be at least 1, got {layers}')
    if vacuum <= 0:
        raise ValueError(f'vacuum must be positive, got {vacuum}')
    indices = primitive_indices(conventional, primitive.cell.array, miller)
    # One repeat of ASE's surface cell holds at least one plane; build enough and keep the lowest.
    per_repeat = len(atomic_planes(surface(primitive, indices, 1, vacuum=None)))
    thick = surface(primitive, indices, math.ceil(layers / per_repeat) + 1, vacuum=None)
    keep = np.sort(np.concatenate(atomic_planes(thick)[:layers]))
    slab = thick[keep]
    cell = slab.cell.array.copy()
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    heights = slab.positions @ normal
    thickness = float(heights.max() - heights.min())
    height = max(thickness + 2 * vacuum, float(min_height))
    cell[2] = normal * height
    slab.set_cell(cell, scale_atoms=False)
    slab.positions += normal * ((height - thickness) / 2 - heights.min())
    slab.pbc = (True, True, True)
    slab.wrap(pbc=(True, True, False))
    slab = slab.repeat((int(repeat[0]), int(repeat[1]), 1))
    slab.calc = None
    return slab


def slab_area(slab: Atoms) -> float:
    """Area (Å²) of the in-plane cell of a slab."""
    cell = slab.cell.array
    return float(np.linalg.norm(np.cross(cell[0], cell[1])))


def _shells(atoms: Atoms) -> list[tuple[str, tuple[float, ...]]]:
    """Per atom, its species and every neighbour distance up to 2.5 nearest-neighbour distances (rounded).

    Three and more shells tell stackings apart that share the first ones (fcc and hcp both have
    12 nearest and 6 second neighbours).
    """
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list('id', atoms, 8.0)
    nearest = float(d.min())
    shells = []
    for index in range(len(atoms)):
        distances = np.sort(d[(i == index) & (d < 2.5 * nearest)])
        shells.append((atoms[index].symbol, tuple(np.round(distances, 3))))
    return shells


def oriented_bulk(primitive: Atoms, conventional: np.ndarray, miller: Sequence[int], max_period: int = 24) -> Atoms:
    """The periodic bulk cell with the in-plane cell of the ``miller`` slab and its third vector along ``z``.

    ASE's ``surface(..., periodic=True)`` is bulk only when the number of planes is a whole
    stacking period (three for fcc(111): ABC); the smallest period whose cell has the bulk's
    density and neighbour shells is used.
    """
    from ase.build import surface

    indices = primitive_indices(conventional, primitive.cell.array, miller)
    reference = sorted(set(_shells(primitive)))
    density = len(primitive) / primitive.get_volume()
    for period in range(1, max_period + 1):
        cell = surface(primitive, indices, period, periodic=True)
        if not math.isclose(len(cell) / cell.get_volume(), density, rel_tol=1e-6):
            continue
        if sorted(set(_shells(cell))) == reference:
            cell.calc = None
            return cell
    raise ValueError(f'no stacking period up to {max_period} layers makes a bulk cell of the {list(miller)} plane')


def in_plane_repeat(slab: Atoms, target_atoms: int) -> tuple[int, int]:
    """The in-plane repeat ``(n1, n2)`` with at least ``target_atoms`` atoms, as square as possible."""
    a, b = np.linalg.norm(slab.cell.array[:2], axis=1)
    best: tuple[float, int, tuple[int, int]] | None = None
    per_cell = len(slab)
    for n1 in range(1, 33):
        for n2 in range(1, 33):
            if n1 * n2 * per_cell < target_atoms:
                continue
            score = (n1 * n2, abs(math.log(n1 * a / (n2 * b))))
            key = (score[0], score[1], (n1, n2))
            if best is None or key < best:
                best = key
            break
    assert best is not None
    return best[2]


def in_plane_strain(slab: Atoms, eps: np.ndarray) -> Atoms:
    """``slab`` with the symmetric strain ``eps`` restricted to the surface plane (``xx, yy, xy``).

    The vacuum and the positions along the normal are untouched: a slab has no stress along
    its normal to relax against.
    """
    eps = np.array(eps, dtype=float)
    eps[2, :] = 0.0
    eps[:, 2] = 0.0
    deformation = np.eye(3) + eps
    if np.linalg.det(deformation[:2, :2]) <= 0.05:
        raise ValueError(f'strain {eps.tolist()} collapses the surface cell')
    strained = slab.copy()
    frac = slab.cell.scaled_positions(slab.positions)
    cell = slab.cell.array @ deformation.T
    strained.set_cell(cell, scale_atoms=False)
    strained.positions = frac @ cell
    return strained


def random_in_plane_strain(
    slab: Atoms, rng: np.random.Generator, volumetric: tuple[float, float], shear: float
) -> tuple[Atoms, dict[str, Any]]:
    """``slab`` strained in its plane: linear strain on xx and yy, shear on xy, drawn as for bulk strain."""
    from aiida_mlip_autopipe.candidates.distortions import strain_tensor

    lo, hi = volumetric
    linear = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    components = rng.uniform(-shear, shear, size=3) if shear > 0 else np.zeros(3)
    strained = in_plane_strain(slab, strain_tensor(linear, components))
    return strained, {
        'linear': linear,
        'shear': [0.0, 0.0, float(components[2])],
        'area_ratio': slab_area(strained) / slab_area(slab),
    }


def adatoms(
    slab: Atoms,
    rng: np.random.Generator,
    count: int = 1,
    element: str | None = None,
    height: float | None = None,
    min_distance: float | None = None,
) -> tuple[Atoms, dict[str, Any]]:
    """``slab`` with ``count`` atoms of ``element`` placed on its top or bottom surface (drawn at random).

    Each adatom goes to a random point of the surface cell and sinks from ``height`` Å above the
    outermost plane (default: the contact distance) as low as it can with every atom at least
    ``min_distance`` Å away (default: 0.9 × the sum of covalent radii of the adatom and the
    largest species present), so it ends in contact with the surface: on top of an atom, or
    in a hollow. Earlier adatoms count as slab atoms for later ones.
    """
    from ase import Atom
    from ase.data import atomic_numbers, covalent_radii
    from ase.geometry import get_distances

    from aiida_mlip_autopipe.candidates.kinds import structure_kind

    if structure_kind(slab) != 'surface':
        raise ValueError('adatoms need a slab (a periodic box with vacuum along its third cell vector)')
    element = element or slab.get_chemical_symbols()[0]
    radius = covalent_radii[atomic_numbers[element]]
    result = slab.copy()
    placed, sides = [], []
    for _ in range(count):
        side = 1 if rng.random() < 0.5 else -1
        z_surface = result.positions[:, 2].max() if side > 0 else result.positions[:, 2].min()
        contact = min_distance or 0.9 * (radius + float(np.max(covalent_radii[result.numbers])))
        reach = height if height is not None else contact
        xy = rng.random(2) @ result.cell.array[:2, :2]
        position = None
        # From ``reach`` above the outermost plane down (into a hollow, if there is one), in 0.02 Å
        # steps, until an atom is too close: the adatom ends in contact with the surface.
        for dz in np.arange(reach, -contact, -0.02):
            trial = np.array([xy[0], xy[1], z_surface + side * dz])
            _, dist = get_distances([trial], result.positions, cell=result.cell, pbc=result.pbc)
            if dist.min() < contact:
                break
            position = trial
        if position is None:
            raise ValueError(f'no room for a {element} adatom {contact:.2f} Å from every atom')
        if not 0 < position[2] < result.cell.array[2, 2]:
            raise ValueError('the adatom does not fit into the vacuum; give more vacuum')
        result.append(Atom(element, position))
        placed.append([float(x) for x in position])
        sides.append('top' if side > 0 else 'bottom')
    return result, {
        'element': element,
        'positions': placed,
        'sides': sides,
        'indices': list(range(len(slab), len(result))),
    }
