"""Point defects: vacancies, antisites and interstitials (seeded, with a minimum-distance check).

Interstitial sites are found geometrically, so they work on any cell (prototype
supercell, SQS, strained or user-supplied): the vertices of the periodic Voronoi
tessellation are the centres of the largest empty spheres between atoms, and the
centres of Voronoi faces add the octahedral holes of bcc (which are face centres, not
vertices). Each site is then classified by its nearest atoms:

- *tetrahedral*: the four nearest atoms form a shell (clear gap to the fifth) that
  encloses the site;
- *octahedral*: the six nearest atoms form a shell of three opposite pairs along
  roughly orthogonal axes (fcc and bcc octahedral holes; not diamond's hexagonal site).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('antisites', 'interstitial_sites', 'interstitials', 'vacancies')

SiteKind = Literal['voronoi', 'tetrahedral', 'octahedral']

#: Sites closer than this (Å) are the same site (degenerate Voronoi vertices of perfect crystals).
_MERGE_TOLERANCE = 0.05
#: Required gap between the last atom of the first shell and the next one (ratio of distances).
_SHELL_GAP = 1.08


def vacancies(atoms: Atoms, rng: np.random.Generator, count: int = 1) -> tuple[Atoms, dict[str, Any]]:
    """``atoms`` with ``count`` atoms removed at random."""
    if count >= len(atoms):
        raise ValueError(f'cannot remove {count} atoms from a structure of {len(atoms)}')
    removed = sorted(int(i) for i in rng.choice(len(atoms), size=count, replace=False))
    symbols = [atoms[i].symbol for i in removed]
    defective = atoms.copy()
    del defective[removed]
    return defective, {'removed': removed, 'species': symbols}


def antisites(atoms: Atoms, rng: np.random.Generator, count: int = 1) -> tuple[Atoms, dict[str, Any]]:
    """``atoms`` with ``count`` pairs of atoms of different species swapped (each atom swaps at most once)."""
    symbols = np.array(atoms.get_chemical_symbols())
    if len(set(symbols)) < 2:
        raise ValueError('antisites need at least two species in the structure')
    available = np.ones(len(atoms), dtype=bool)
    pairs = []
    for _ in range(count):
        first_choices = np.flatnonzero(available)
        rng.shuffle(first_choices)
        for i in first_choices:
            partners = np.flatnonzero(available & (symbols != symbols[i]))
            if partners.size:
                j = int(rng.choice(partners))
                break
        else:
            raise ValueError(f'only {len(pairs)} antisite pairs fit into this structure, {count} requested')
        i = int(i)
        pairs.append(sorted((i, j)))
        available[[i, j]] = False
    swapped = symbols.copy()
    for i, j in pairs:
        swapped[i], swapped[j] = symbols[j], symbols[i]
    defective = atoms.copy()
    defective.set_chemical_symbols(list(swapped))
    return defective, {'pairs': pairs, 'species': [[str(symbols[i]), str(symbols[j])] for i, j in pairs]}


def _images(atoms: Atoms, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Atom positions with the periodic images within ``margin`` (Å) of the cell; central copy first.

    Returns the positions and, per position, the index of the atom it images.
    """
    cell = atoms.cell.array
    heights = atoms.cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.ceil(margin / heights).astype(int)
    frac_margin = margin / heights
    frac = atoms.get_scaled_positions(wrap=True)
    shifts = [
        (i, j, k)
        for i in range(-reach[0], reach[0] + 1)
        for j in range(-reach[1], reach[1] + 1)
        for k in range(-reach[2], reach[2] + 1)
    ]
    shifts.sort(key=lambda s: (s != (0, 0, 0), s))
    positions, owners = [], []
    for shift in shifts:
        shifted = frac + np.array(shift)
        keep = np.all((shifted >= -frac_margin) & (shifted < 1 + frac_margin), axis=1)
        positions.append(shifted[keep] @ cell)
        owners.append(np.flatnonzero(keep))
    return np.concatenate(positions), np.concatenate(owners)


def _unique_in_cell(atoms: Atoms, points: np.ndarray) -> np.ndarray:
    """Points wrapped into the cell with near-duplicates (periodic images included) merged."""
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return points.reshape(0, 3)
    frac = np.linalg.solve(atoms.cell.array.T, points.T).T
    frac = frac - np.floor(frac)
    frac[np.isclose(frac, 1.0, atol=1e-9)] = 0.0
    wrapped = frac @ atoms.cell.array
    order = np.lexsort(np.round(frac, 6).T[::-1])
    wrapped = wrapped[order]
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ atoms.cell.array
    tree = cKDTree(wrapped)
    keep = np.ones(len(wrapped), dtype=bool)
    for index in range(len(wrapped)):
        if not keep[index]:
            continue
        for shift in shifts:
            for other in tree.query_ball_point(wrapped[index] + shift, _MERGE_TOLERANCE):
                if other > index:
                    keep[other] = False
    return wrapped[keep]


def _nearest_atoms(atoms: Atoms, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances (n, k) and vectors (n, k, 3) from each point to its ``k`` nearest atoms (periodic)."""
    from scipy.spatial import cKDTree

    margin = 8.0
    images, _ = _images(atoms, margin)
    while len(images) < k + 1:  # pragma: no cover - only for absurdly small cells
        margin *= 2
        images, _ = _images(atoms, margin)
    tree = cKDTree(images)
    dist, index = tree.query(points, k=k)
    vectors = images[index] - points[:, None, :]
    return dist, vectors


def _is_tetrahedral(dist: np.ndarray, vectors: np.ndarray) -> bool:
    if dist[4] < _SHELL_GAP * dist[3] or dist[3] > 1.3 * dist[0]:
        return False
    # The site lies inside the tetrahedron of its four nearest atoms: barycentric weights > 0.
    corners = vectors[:4]
    matrix = np.vstack([corners.T, np.ones(4)])
    try:
        weights = np.linalg.solve(matrix, np.array([0.0, 0.0, 0.0, 1.0]))
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(weights > 0.02))


def _is_octahedral(dist: np.ndarray, vectors: np.ndarray) -> bool:
    if dist[6] < _SHELL_GAP * dist[5] or dist[5] > 1.6 * dist[0]:
        return False
    units = vectors[:6] / dist[:6, None]
    cosines = units @ units.T
    np.fill_diagonal(cosines, 1.0)
    partner = np.argmin(cosines, axis=1)
    if not np.all(cosines[np.arange(6), partner] < -0.9) or not np.all(partner[partner] == np.arange(6)):
        return False
    axes = [units[i] for i in range(6) if i < partner[i]]
    if len(axes) != 3:
        return False
    return all(abs(float(np.dot(axes[a], axes[b]))) < 0.35 for a in range(3) for b in range(a + 1, 3))


def interstitial_sites(atoms: Atoms, kind: SiteKind = 'voronoi', min_distance: float = 0.0) -> np.ndarray:
    """Cartesian positions (n, 3) of interstitial sites of ``kind`` at least ``min_distance`` Å from every atom.

    Sites come out sorted by decreasing distance to the nearest atom (largest holes
    first), then by position, so the list is reproducible.
    """
    from scipy.spatial import Voronoi

    if not atoms.pbc.all() or atoms.cell.rank < 3:
        raise ValueError('interstitial sites need a 3D periodic structure')
    images, _ = _images(atoms, margin=6.0)
    n_central = len(atoms)
    voronoi = Voronoi(images, qhull_options='Qbb Qc Qz')
    central = voronoi.point_region[:n_central]
    vertex_ids = sorted({v for region in central for v in voronoi.regions[region] if v >= 0})
    points = voronoi.vertices[vertex_ids]
    if kind == 'octahedral':
        # bcc octahedral holes are centres of Voronoi faces, not vertices.
        centres = []
        for (p, q), ridge in zip(voronoi.ridge_points, voronoi.ridge_vertices, strict=True):
            if (p < n_central or q < n_central) and ridge and min(ridge) >= 0:
                centres.append(voronoi.vertices[ridge].mean(axis=0))
        if centres:
            points = np.vstack([points, np.array(centres)])
    sites = _unique_in_cell(atoms, points)
    if len(sites) == 0:
        return sites
    dist, vectors = _nearest_atoms(atoms, sites, k=8)
    if kind in ('tetrahedral', 'octahedral'):
        shell, test = (4, _is_tetrahedral) if kind == 'tetrahedral' else (6, _is_octahedral)
        keep = np.array([test(d, v) for d, v in zip(dist, vectors, strict=True)], dtype=bool)
        # In a distorted cell one hole shows up as several nearby vertices; the centroid
        # of its shell of atoms is one well-defined site per hole.
        sites = _unique_in_cell(atoms, sites[keep] + vectors[keep, :shell].mean(axis=1))
        if len(sites) == 0:
            return sites
        dist, vectors = _nearest_atoms(atoms, sites, k=8)
    elif kind != 'voronoi':
        raise ValueError(f"unknown site kind {kind!r}; use 'voronoi', 'tetrahedral' or 'octahedral'")
    keep = dist[:, 0] >= min_distance
    sites, nearest = sites[keep], dist[keep, 0]
    order = np.lexsort((*np.round(sites, 4).T[::-1], -np.round(nearest, 4)))
    return sites[order]


def interstitials(
    atoms: Atoms,
    rng: np.random.Generator,
    count: int = 1,
    element: str | None = None,
    sites: SiteKind = 'voronoi',
    min_distance: float = 1.6,
) -> tuple[Atoms, dict[str, Any]]:
    """``atoms`` with ``count`` atoms of ``element`` inserted at random sites of ``sites`` kind.

    Every inserted atom is at least ``min_distance`` Å from every other atom, the
    previously inserted ones included; a ``ValueError`` says how many fit otherwise.
    """
    from ase import Atom
    from ase.geometry import get_distances

    element = element or atoms.get_chemical_symbols()[0]
    candidates = interstitial_sites(atoms, sites, min_distance)
    if len(candidates) == 0:
        raise ValueError(
            f'no {sites} interstitial site is {min_distance} Å or more away from the atoms of '
            f'{atoms.get_chemical_formula()}'
        )
    defective = atoms.copy()
    inserted: list[list[float]] = []
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(count):
        choices = np.flatnonzero(available)
        if choices.size == 0:
            raise ValueError(
                f'only {len(inserted)} {sites} interstitials fit {min_distance} Å apart, {count} requested'
            )
        pick = int(rng.choice(choices))
        position = candidates[pick]
        defective.append(Atom(element, position))
        inserted.append([float(x) for x in position])
        _, dist = get_distances(candidates, [position], cell=atoms.cell, pbc=atoms.pbc)
        available &= dist[:, 0] >= min_distance
    return defective, {
        'element': element,
        'sites': sites,
        'positions': inserted,
        'indices': list(range(len(atoms), len(defective))),
        'n_sites': len(candidates),
    }
