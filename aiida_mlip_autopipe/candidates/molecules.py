"""Isolated molecules and small clusters of them in a vacuum box: built, bond-stretched and rotated.

Pure ASE, like the other builders. A molecule comes from ASE's collections by name
(:func:`molecule_names`: the g2 set and ASE's extras, e.g. ``H2O``, ``CH4``, ``NH3``,
``C6H6``) or from a file. Every structure made here sits in an orthorhombic box with
``vacuum`` Å between its atoms and each face (so periodic images are ``2 × vacuum`` apart) and
``pbc = False``: k-point meshes are Γ only, and no stress is meaningful.

Clusters of ``n`` molecules (the small pieces of a liquid) are grown one randomly rotated
molecule at a time, each put in contact with the ones already placed (the closest pair of
atoms of different molecules at ``contact_distance``, never closer), so clusters are compact,
never overlapping, and the same for the same random generator.
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'bonds',
    'box',
    'build_cluster',
    'check_molecule_name',
    'fragments',
    'intermolecular_distance',
    'molecule_from_file',
    'molecule_from_name',
    'molecule_names',
    'random_rotation',
    'rotate_molecules',
    'stretch_bond',
)

#: Two atoms are bonded when closer than this times the sum of their covalent radii.
BOND_FACTOR = 1.25


@cache
def molecule_names() -> tuple[str, ...]:
    """Every name ``ase.build.molecule`` knows: the g2 collection and ASE's extra molecules."""
    from ase.build.molecule import extra
    from ase.collections import g2

    return tuple(sorted(set(g2.names) | set(extra)))


def check_molecule_name(name: str) -> str:
    """``name`` if ASE knows it; else a ``ValueError`` with the closest names (case-insensitive)."""
    names = molecule_names()
    if name in names:
        return name
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
    hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
    raise ValueError(
        f"unknown molecule {name!r}{hint} (ASE's g2 collection and extras: {len(names)} names, e.g. H2O, CH4, NH3, "
        'CO2, C6H6; or give molecule.file)'
    )


def molecule_from_name(name: str) -> Atoms:
    """The molecule ``name`` from ASE's collections, centred at the origin, no cell."""
    from ase.build import molecule

    atoms = molecule(check_molecule_name(name))
    atoms.positions -= atoms.positions.mean(axis=0)
    atoms.cell = np.zeros((3, 3))
    atoms.pbc = False
    atoms.calc = None
    return atoms


def molecule_from_file(path: str) -> Atoms:
    """The first structure of a file ASE reads (xyz, extxyz, ...), as an isolated molecule: its cell is dropped."""
    from ase.io import read

    atoms = read(str(path))
    if isinstance(atoms, list):
        atoms = atoms[0]
    if len(atoms) == 0:
        raise ValueError(f'{path} holds no atoms')
    atoms.positions -= atoms.positions.mean(axis=0)
    atoms.cell = np.zeros((3, 3))
    atoms.pbc = False
    atoms.calc = None
    return atoms


def box(atoms: Atoms, vacuum: float) -> Atoms:
    """``atoms`` centred in an orthorhombic box with ``vacuum`` Å to each face; ``pbc = False``."""
    if vacuum <= 0:
        raise ValueError(f'vacuum must be positive, got {vacuum}')
    boxed = atoms.copy()
    boxed.pbc = False
    boxed.cell = np.zeros((3, 3))
    boxed.center(vacuum=float(vacuum))
    return boxed


def bonds(atoms: Atoms, factor: float = BOND_FACTOR) -> list[tuple[int, int]]:
    """Bonded pairs ``(i, j)``, ``i < j``: closer than ``factor`` × the sum of covalent radii (no periodic images)."""
    from ase.data import covalent_radii

    radii = covalent_radii[atoms.numbers]
    positions = atoms.positions
    distances = np.linalg.norm(positions[:, None] - positions[None, :], axis=2)
    limit = factor * (radii[:, None] + radii[None, :])
    i, j = np.nonzero(np.triu(distances < limit, k=1))
    return [(int(a), int(b)) for a, b in zip(i, j, strict=True)]


def fragments(atoms: Atoms, factor: float = BOND_FACTOR, extra: list[tuple[int, int]] | None = None) -> list[list[int]]:
    """Connected groups of bonded atoms (the molecules of a cluster), each sorted, ordered by first atom."""
    parent = list(range(len(atoms)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in bonds(atoms, factor) + list(extra or []):
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(atoms)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed 3×3 rotation matrix (a random unit quaternion)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def intermolecular_distance(atoms: Atoms, groups: list[list[int]]) -> float:
    """Shortest distance between two atoms of different groups (``inf`` for one group)."""
    owner = np.empty(len(atoms), dtype=int)
    for index, group in enumerate(groups):
        owner[group] = index
    positions = atoms.positions
    distances = np.linalg.norm(positions[:, None] - positions[None, :], axis=2)
    different = owner[:, None] != owner[None, :]
    return float(distances[different].min()) if different.any() else float('inf')


def build_cluster(molecule: Atoms, count: int, rng: np.random.Generator, contact_distance: float = 2.0) -> Atoms:
    """``count`` randomly rotated copies of ``molecule`` grown into a compact cluster (no cell, ``pbc`` False).

    Each new molecule comes from a random direction towards the centre of the molecules placed
    so far and stops where its closest atom to them is ``contact_distance`` Å away (steps of
    0.02 Å); it never comes closer. One molecule is returned as is (rotated).
    """
    from ase import Atoms

    if count < 1:
        raise ValueError(f'a cluster needs at least one molecule, got {count}')
    if contact_distance <= 0:
        raise ValueError(f'contact_distance must be positive, got {contact_distance}')
    base = molecule.positions - molecule.positions.mean(axis=0)
    symbols = molecule.get_chemical_symbols()
    radius = float(np.linalg.norm(base, axis=1).max())
    placed = [base @ random_rotation(rng).T]
    for _ in range(1, count):
        shape = base @ random_rotation(rng).T
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        existing = np.concatenate(placed)
        centre = existing.mean(axis=0)
        reach = float(np.linalg.norm(existing - centre, axis=1).max()) + 2 * radius + 2 * contact_distance
        position = None
        for distance in np.arange(reach, -1e-9, -0.02):
            trial = shape + centre + distance * direction
            gap = np.linalg.norm(trial[:, None] - existing[None, :], axis=2).min()
            if gap < contact_distance:
                break
            position = trial
        if position is None:  # pragma: no cover - the start is farther than any atom can reach
            raise RuntimeError('a molecule could not be placed; this is a bug')
        placed.append(position)
    positions = np.concatenate(placed)
    cluster = Atoms(symbols=symbols * count, positions=positions - positions.mean(axis=0), pbc=False)
    return cluster


def _molecule_groups(atoms: Atoms, details_groups: list[list[int]] | None) -> list[list[int]]:
    return [list(g) for g in details_groups] if details_groups else fragments(atoms)


def stretch_bond(
    atoms: Atoms,
    rng: np.random.Generator,
    fraction_range: tuple[float, float] = (-0.1, 0.15),
    groups: list[list[int]] | None = None,
) -> tuple[Atoms, dict[str, Any]]:
    """``atoms`` with one random bond lengthened or shortened by a fraction drawn from ``fraction_range``.

    The bond's two sides (the atoms connected to each end once the bond is cut; for a bond in
    a ring, just the second atom) move apart along the bond, each by half the change,
    so the rest of the molecule keeps its shape and the centre of mass barely moves.
    ``groups`` (the molecules, default: bonded fragments) keeps the stretch inside one molecule.
    """
    found = [pair for pair in bonds(atoms) if _same_group(pair, _molecule_groups(atoms, groups))]
    if not found:
        raise ValueError(f'{atoms.get_chemical_formula()} has no bond to stretch')
    low, high = fraction_range
    i, j = found[int(rng.integers(len(found)))]
    fraction = float(rng.uniform(low, high)) if high > low else float(low)
    vector = atoms.positions[j] - atoms.positions[i]
    length = float(np.linalg.norm(vector))
    unit = vector / length
    others = [pair for pair in bonds(atoms) if pair != (i, j)]
    side_j = _side(len(atoms), others, start=j, stop=i)
    side_i = _side(len(atoms), others, start=i, stop=j) if side_j is not None else None
    if side_j is None:  # a ring: move only j
        side_j, side_i = [j], []
    stretched = atoms.copy()
    change = fraction * length
    weight_i = 0.5 if side_i else 0.0
    stretched.positions[side_j] += unit * change * (1 - weight_i)
    if side_i:
        stretched.positions[side_i] -= unit * change * weight_i
    return stretched, {
        'bond': [i, j],
        'species': [atoms[i].symbol, atoms[j].symbol],
        'length_before': length,
        'length_after': length * (1 + fraction),
        'fraction': fraction,
    }


def _same_group(pair: tuple[int, int], groups: list[list[int]]) -> bool:
    return any(pair[0] in g and pair[1] in g for g in groups)


def _side(n: int, edges: list[tuple[int, int]], start: int, stop: int) -> list[int] | None:
    """Atoms reachable from ``start`` without the bond to ``stop``; ``None`` if ``stop`` is reachable (a ring)."""
    neighbours: dict[int, list[int]] = {k: [] for k in range(n)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        for other in neighbours[current]:
            if other == stop:
                return None
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return sorted(seen)


def rotate_molecules(
    atoms: Atoms,
    rng: np.random.Generator,
    contact_distance: float = 2.0,
    groups: list[list[int]] | None = None,
) -> tuple[Atoms, dict[str, Any]]:
    """Every molecule of ``atoms`` turned by its own random rotation about its centre.

    For a cluster the molecules change their relative orientation: after the rotations, a
    molecule that comes closer than ``contact_distance`` to the others (or closer than the
    cluster had, if it already had less) moves out, away from the cluster's centre in 0.05 Å
    steps, until it no longer does; the box is then refitted with the same vacuum. For a single
    molecule it turns the molecule against the box and the plane-wave grid, which tests that
    DFT and the fit see the same molecule.
    """
    members = _molecule_groups(atoms, groups)
    limit = min(contact_distance, intermolecular_distance(atoms, members))
    rotated = atoms.copy()
    angles = []
    for group in members:
        centre = atoms.positions[group].mean(axis=0)
        rotation = random_rotation(rng)
        rotated.positions[group] = (atoms.positions[group] - centre) @ rotation.T + centre
        angles.append(float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))))
    moved = 0.0
    if len(members) > 1:
        middle = rotated.positions.mean(axis=0)
        for index, group in enumerate(members):
            others = [i for k, g in enumerate(members) if k != index for i in g]
            direction = rotated.positions[group].mean(axis=0) - middle
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])
            for _ in range(400):
                gap = np.linalg.norm(rotated.positions[group][:, None] - rotated.positions[others][None], axis=2).min()
                if gap >= limit - 1e-9:
                    break
                rotated.positions[group] += 0.05 * direction
                moved += 0.05
    if atoms.cell.rank == 3:
        extent = np.ptp(atoms.positions, axis=0)
        vacuum = float(np.min((atoms.cell.lengths() - extent) / 2))
        rotated = box(rotated, vacuum) if vacuum > 0 else rotated
    return rotated, {'molecules': len(members), 'angles_deg': angles, 'moved_out': round(moved, 3)}
