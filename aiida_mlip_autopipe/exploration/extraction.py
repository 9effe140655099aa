"""Cut the environments of high-gamma atoms out of MD frames into periodic boxes DFT can label.

Pure Python (numpy, ASE), called by the calcfunction
:func:`~aiida_mlip_autopipe.exploration.functions.extract_uncertain_environments`;
:mod:`~aiida_mlip_autopipe.exploration.environments` then keeps the distinct ones.

Vocabulary
----------
centre
    an atom whose extrapolation grade gamma reached the threshold; centres closer than
    ``merge_distance`` (minimum image) are merged into one environment.
core
    every atom within ``core_radius`` (default: the ACE cutoff) of a centre: the atoms
    whose ACE energies make the centres uncertain and whose DFT forces are trusted
    (force weight 1).
buffer
    every other atom of the box; it keeps the core bulk-like for DFT. Its forces feel the
    artificial boundary, so training weights them down (``buffer_weight``).

The box
-------
A cut-out is an orthorhombic box, axis-aligned in the frame's Cartesian frame, that spans
the centres' bounding box plus ``R = core_radius + buffer`` on every side, filled with
every periodic image of the frame's atoms that falls inside it. Why this box:

* **periodic bulk, no vacuum**: DFT labels a dense periodic cell (no surfaces, no vacuum
  padding to pay for in plane waves, no surface states leaking into the core);
* **exact where it matters**: any point outside the box is at least ``R`` from every
  centre, so the periodic images of the box never come within ``R`` of a centre: each
  centre's neighbourhood within ``core_radius + buffer`` is identical to the frame's, and
  each core atom's neighbourhood is identical within ``buffer``. Tests check this atom by
  atom, including centres that sit on the frame's cell boundary;
* **the seam is far away**: where the box meets its own image the structure is not
  continuous (a planar defect). It lies at least ``R`` from the centres, among buffer
  atoms; atom pairs across it closer than ``min_distance_factor`` × the sum of covalent
  radii are resolved by removing the atom farther from the centres, so DFT never sees
  overlapping atoms. Pairs that do not cross the seam are the frame's own and are never
  touched, however short (an uncertain environment may well be compressed). The seam's
  rules live in :mod:`~aiida_mlip_autopipe.exploration.seam`, shared with slab windows.

Slabs and clusters (a vacuum gap of at least ``core_radius`` along the normal, or along every
direction) are cut by :mod:`~aiida_mlip_autopipe.exploration.isolated` instead: no periodic image
across the vacuum, whole molecules, the slab's full thickness.

A "smallest supercell-like cell" (a sub-supercell of the MD cell) would make the seam
nearly perfect for crystals, but needs the primitive lattice of a frame that has melted,
sheared or been rescaled by NPT, and fails for liquids and defects; the orthorhombic box
works for any frame.

Whole frames: a frame with at most ``max_atoms`` atoms, or one smaller than its cut-out
would be (or too small to hold the box without meeting itself), is kept whole and
unchanged: it is already a periodic cell whose every atom has its exact environment, so
every atom is core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aiida_mlip_autopipe.exploration.seam import seam_distance_of, seam_lengths, trim_seam

__all__ = (
    'Environment',
    'ExtractionSettings',
    'cluster_centres',
    'cut_environment',
    'environments_from_frame',
)


#: Most periodic images of a frame searched for the atoms of one box (a strongly sheared or thin cell needs more).
MAX_IMAGE_SHIFTS = 20_000


@dataclass(frozen=True)
class ExtractionSettings:
    """The numbers extraction needs (from :meth:`aiida_mlip_autopipe.exploration.config.ExtractionConfig.settings`)."""

    gamma_threshold: float
    core_radius: float
    buffer: float = 2.0
    max_atoms: int = 16
    max_box_atoms: int = 256
    max_environments: int = 8
    merge_distance: float = 3.0
    duplicate_threshold: float = 0.05
    min_distance_factor: float = 0.7
    buffer_weight: float = 0.1
    generation: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionSettings:
        """Build from a settings dict, naming unknown or missing keys."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown extraction settings {unknown}; allowed: {sorted(known)}')
        missing = sorted(k for k in ('gamma_threshold', 'core_radius') if data.get(k) is None)
        if missing:
            raise ValueError(f'extraction settings need {missing}')
        settings = cls(**data)
        if settings.core_radius <= 0 or settings.buffer < 0:
            raise ValueError('core_radius must be > 0 and buffer >= 0')
        if not 0 <= settings.buffer_weight <= 1:
            raise ValueError(f'buffer_weight {settings.buffer_weight} must be within [0, 1]')
        return settings


@dataclass
class Environment:
    """One candidate structure cut from (or equal to) an MD frame, with its bookkeeping."""

    atoms: Any  # ase.Atoms
    mode: str  # 'cut-out' or 'whole-frame'
    frame_index: int
    centre_indices: list[int]  # indices of the centres in the frame
    centre_gamma: list[float]
    source_indices: np.ndarray  # frame index of every atom of ``atoms``
    core_mask: np.ndarray
    force_weights: np.ndarray
    centres_in_box: list[int]  # indices of the centres in ``atoms``
    removed_at_seam: int = 0
    source: str = ''  # key of the trajectory it came from
    step: int | None = None
    fingerprint: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def whole_frame(
        cls, atoms: Any, gamma: np.ndarray, centres: list[int], frame_index: int, source: str, step: int | None
    ) -> Environment:
        """A frame kept whole (bulk, slab or cluster): every atom has its exact environment, so every atom is core."""
        n = len(atoms)
        return cls(
            atoms=atoms,
            mode='whole-frame',
            frame_index=frame_index,
            centre_indices=centres,
            centre_gamma=[float(gamma[c]) for c in centres],
            source_indices=np.arange(n),
            core_mask=np.ones(n, dtype=bool),
            force_weights=np.ones(n),
            centres_in_box=list(centres),
            source=source,
            step=step,
        )

    @property
    def max_gamma(self) -> float:
        """Largest gamma among the centres."""
        return max(self.centre_gamma) if self.centre_gamma else 0.0


def _mic_vectors(atoms: Any, origin: np.ndarray, targets: np.ndarray) -> np.ndarray:
    from ase.geometry import find_mic

    vectors, _ = find_mic(targets - origin, atoms.cell, pbc=atoms.pbc)
    return vectors


def cluster_centres(atoms: Any, centres: Sequence[int], merge_distance: float) -> list[list[int]]:
    """Groups of centres linked by minimum-image distances below ``merge_distance`` (single linkage).

    Groups are ordered by their first centre in ``centres`` order (pass centres sorted by
    decreasing gamma to get the most uncertain group first).
    """
    centres = list(centres)
    parent = {c: c for c in centres}

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    if merge_distance > 0 and len(centres) > 1:
        positions = atoms.positions
        for k, i in enumerate(centres):
            others = centres[k + 1 :]
            if not others:
                break
            vectors = _mic_vectors(atoms, positions[i], positions[others])
            for j, distance in zip(others, np.linalg.norm(vectors, axis=1), strict=True):
                if distance < merge_distance:
                    parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for c in centres:
        groups.setdefault(root(c), []).append(c)
    return sorted(groups.values(), key=lambda g: centres.index(g[0]))


def cut_environment(
    atoms: Any,
    centres: Sequence[int],
    core_radius: float,
    buffer: float,
    min_distance_factor: float = 0.7,
    max_extension: float = 2.0,
    why: list[str] | None = None,
) -> dict[str, Any] | None:
    """The orthorhombic periodic box around ``centres`` (see the module docstring), or ``None``.

    The box spans the centres plus ``R = core_radius + buffer``; each edge may grow by up
    to ``max_extension`` Å (on the far side, so the centres keep at least ``R`` to every
    face) to the length whose seam comes closest to the frame's own nearest-neighbour
    distance: an arbitrary length can put two atomic planes almost on top of each other
    across the seam. Remaining pairs across the seam closer than ``min_distance_factor`` ×
    the sum of covalent radii lose the atom farther from the centres.

    ``None`` means the frame is too small for the box: some atom would appear in it twice
    (the box would meet its own periodic image), or filling the box would take more than
    ``MAX_IMAGE_SHIFTS`` periodic images of a strongly sheared or thin cell; keep the frame
    whole then. The reason is appended to ``why`` when it is given.
    Returns ``atoms`` (ase.Atoms), ``source_indices``, ``core_mask``, ``centres_in_box``,
    ``removed_at_seam``, ``lengths`` and ``seam_min_distance``.
    """
    from ase import Atoms

    centres = list(centres)
    reach = core_radius + buffer
    anchor = atoms.positions[centres[0]]
    unwrapped = anchor + _mic_vectors(atoms, anchor, atoms.positions[centres])
    low = unwrapped.min(axis=0) - reach
    minimum = unwrapped.max(axis=0) - unwrapped.min(axis=0) + 2 * reach
    cell = atoms.cell.array
    symbols_all = np.array(atoms.get_chemical_symbols())

    # Periodic images that can fall into the largest box considered.
    largest = minimum + max_extension
    corners = low + np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * largest
    frac_corners = np.linalg.solve(cell.T, corners.T).T
    frac_atoms = np.linalg.solve(cell.T, atoms.positions.T).T
    lo = np.floor(frac_corners.min(axis=0) - frac_atoms.max(axis=0)).astype(int)
    hi = np.ceil(frac_corners.max(axis=0) - frac_atoms.min(axis=0)).astype(int)
    if (count := int(np.prod(hi - lo + 1))) > MAX_IMAGE_SHIFTS:
        if why is not None:
            why.append(f'the box would need {count} image shifts of the frame, more than {MAX_IMAGE_SHIFTS}')
        return None
    shifts = np.array(
        [[i, j, k] for i in range(lo[0], hi[0] + 1) for j in range(lo[1], hi[1] + 1) for k in range(lo[2], hi[2] + 1)]
    )
    local_all = (atoms.positions[None, :, :] + (shifts @ cell)[:, None, :] - low).reshape(-1, 3)
    index_all = np.tile(np.arange(len(atoms)), len(shifts))
    near = np.all((local_all >= 0) & (local_all < largest), axis=1)
    local_all, index_all = local_all[near], index_all[near]

    def fill(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        inside = np.all(local_all < lengths, axis=1)
        index = index_all[inside]
        if len(np.unique(index)) != len(index):
            return None
        order = np.argsort(index, kind='stable')
        return local_all[inside][order], index[order]

    own_image = 'the box would meet its own image'
    if fill(minimum) is None:
        if why is not None:
            why.append(own_image)
        return None
    # The seam should look like the frame: its density and its nearest-neighbour distance.
    lengths = seam_lengths(atoms, minimum, max_extension, fill, symbols_all)
    filled = fill(lengths)
    if filled is None:
        if why is not None:
            why.append(own_image)
        return None
    positions, atom_index = filled

    centre_local = unwrapped - low
    distances = np.linalg.norm(positions[:, None, :] - centre_local[None, :, :], axis=2)
    nearest = distances.min(axis=1)
    core = nearest <= core_radius + 1e-9
    centres_in_box = []
    for c, where in zip(centres, centre_local, strict=True):
        hits = np.nonzero((atom_index == c) & (np.linalg.norm(positions - where, axis=1) < 1e-6))[0]
        if len(hits) != 1:
            raise RuntimeError(f'centre {c} is not in its own box; this is a bug')
        centres_in_box.append(int(hits[0]))

    box = Atoms(symbols=list(symbols_all[atom_index]), positions=positions, cell=np.diag(lengths), pbc=True)
    cut = trim_seam(box, atom_index, nearest, core, centres_in_box, min_distance_factor)
    return {**cut, 'lengths': lengths, 'seam_min_distance': seam_distance_of(cut['atoms'])}


def environments_from_frame(
    atoms: Any,
    gamma: np.ndarray,
    settings: ExtractionSettings,
    frame_index: int = 0,
    source: str = '',
    step: int | None = None,
) -> tuple[list[Environment], list[dict[str, Any]]]:
    """Environments of one frame and a report line for each decision (whole, cut, skipped)."""
    gamma = np.asarray(gamma, dtype=float)
    if gamma.shape != (len(atoms),):
        raise ValueError(f'gamma has shape {gamma.shape}, expected ({len(atoms)},)')
    selected = np.nonzero(gamma >= settings.gamma_threshold)[0]
    report: list[dict[str, Any]] = []
    if len(selected) == 0:
        return [], [{'source': source, 'frame': frame_index, 'decision': 'no atom above threshold'}]
    centres = [int(i) for i in selected[np.argsort(-gamma[selected], kind='stable')]]
    # issue 16: a slab or cluster (a vacuum gap of a cutoff or more) is cut without periodic images across it.
    from aiida_mlip_autopipe.exploration.isolated import environments_of_isolated, isolated_frame

    isolated = isolated_frame(atoms, settings.core_radius)
    if isolated is not None:
        return environments_of_isolated(isolated, gamma, centres, settings, frame_index, source, step)

    def whole(reason: str) -> tuple[list[Environment], list[dict[str, Any]]]:
        n = len(atoms)
        if n > settings.max_box_atoms:
            return [], [
                {'source': source, 'frame': frame_index, 'decision': f'skipped: {n} atoms > max_box_atoms ({reason})'}
            ]
        frame = atoms.copy()
        frame.wrap()
        env = Environment.whole_frame(frame, gamma, centres, frame_index, source, step)
        return [env], [{'source': source, 'frame': frame_index, 'decision': f'whole frame ({reason})', 'atoms': n}]

    if len(atoms) <= settings.max_atoms:
        return whole(f'{len(atoms)} atoms <= max_atoms {settings.max_atoms}')
    environments: list[Environment] = []
    for group in cluster_centres(atoms, centres, settings.merge_distance):
        why: list[str] = []
        cut = cut_environment(
            atoms, group, settings.core_radius, settings.buffer, settings.min_distance_factor, why=why
        )
        if cut is None or len(cut['atoms']) >= len(atoms):
            return whole('the frame is smaller than its cut-out' if cut is not None else why[0])
        n = len(cut['atoms'])
        if n > settings.max_box_atoms:
            report.append(
                {
                    'source': source,
                    'frame': frame_index,
                    'centres': group,
                    'decision': f'skipped: cut-out of {n} atoms > max_box_atoms {settings.max_box_atoms}',
                }
            )
            continue
        weights = np.where(cut['core_mask'], 1.0, settings.buffer_weight)
        environments.append(
            Environment(
                atoms=cut['atoms'],
                mode='cut-out',
                frame_index=frame_index,
                centre_indices=list(group),
                centre_gamma=[float(gamma[c]) for c in group],
                source_indices=cut['source_indices'],
                core_mask=cut['core_mask'],
                force_weights=weights,
                centres_in_box=cut['centres_in_box'],
                removed_at_seam=cut['removed_at_seam'],
                source=source,
                step=step,
            )
        )
        report.append(
            {
                'source': source,
                'frame': frame_index,
                'centres': group,
                'decision': 'cut-out',
                'atoms': n,
                'core_atoms': int(cut['core_mask'].sum()),
                'removed_at_seam': cut['removed_at_seam'],
            }
        )
    return environments, report
