"""Uncertain environments of slabs and clusters: cut-outs that assume no periodic image across the vacuum.

Slab and cluster MD runs in a padded periodic box (:mod:`~aiida_mlip_autopipe.exploration.starts`),
so its frames come back periodic in all three directions. A direction along which the atoms
leave a vacuum gap of at least the core radius (the ACE cutoff) is not periodic for the physics:
no atom interacts across it. :func:`isolated_frame` finds those directions
(:func:`~aiida_mlip_autopipe.candidates.kinds.periodic_for_gaps`), joins a slab or cluster that
drifted across the box boundary and gives the frame its real periodicity; the environments are
then cut as follows (:func:`environments_of_isolated`):

- **cluster** (no periodic direction): every molecule with an atom within ``R = core_radius +
  buffer`` of a centre, whole (bonded fragments, so no bond is cut), without periodic images,
  in a box with the frame's vacuum on every side, ``pbc`` all False. Each centre's neighbourhood
  within ``R`` is exactly the frame's, as for bulk cut-outs. A cluster whose molecules are all
  within reach (or a metal cluster, one fragment) is kept whole.
- **slab** (periodic in the plane): an in-plane window around the centres, ``R`` beyond them on
  each side, with the slab's full thickness and both its real surfaces, periodic in the plane
  (in-plane images fill the window; pairs across the in-plane seam closer than
  ``min_distance_factor`` × the covalent radii lose the atom farther from the centres), the
  frame's vacuum along the normal (so the box is as tall as the MD box, which had one k-point
  along the normal), a periodic box as every slab is
  (:mod:`~aiida_mlip_autopipe.candidates.kinds`).

Whole frames keep their cell, centred along the vacuum directions; clusters lose their periodicity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aiida_mlip_autopipe.exploration.extraction import Environment, ExtractionSettings, cluster_centres
from aiida_mlip_autopipe.exploration.seam import trim_seam

__all__ = ('cut_cluster', 'cut_slab', 'environments_of_isolated', 'isolated_frame')


def isolated_frame(atoms: Any, min_gap: float) -> Any | None:
    """``atoms`` as the slab or cluster it is, or ``None`` for bulk.

    Joined across the box boundary and centred along the vacuum; ``pbc`` is its physical
    periodicity here (``(True, True, False)`` for a slab), which the cut-outs turn back into a
    periodic box for slabs.
    """
    from aiida_mlip_autopipe.candidates.kinds import make_contiguous, periodic_for_gaps

    pbc = periodic_for_gaps(atoms, min_gap)
    if all(pbc):
        return None
    vacuum_axes = [bool(p) and not q for p, q in zip(atoms.pbc, pbc, strict=True)]
    frame = make_contiguous(atoms, vacuum_axes)
    frame.pbc = pbc
    frame.wrap()
    # Centre along each vacuum direction (shifts by a cell fraction; distances unchanged).
    frac = frame.cell.scaled_positions(frame.positions)
    for axis, flagged in enumerate(vacuum_axes):
        if flagged:
            frac[:, axis] += 0.5 - (frac[:, axis].min() + frac[:, axis].max()) / 2
    frame.positions = frac @ frame.cell.array
    return frame


def _vacuum_of(frame: Any) -> float:
    """Half the narrowest vacuum gap of ``frame`` along its non-periodic directions (Å)."""
    from aiida_mlip_autopipe.candidates.kinds import vacuum_gaps

    gaps = vacuum_gaps(frame)
    return float(min(g for g, p in zip(gaps, frame.pbc, strict=True) if not p) / 2)


def cut_cluster(frame: Any, centres: Sequence[int], core_radius: float, buffer: float) -> dict[str, Any] | None:
    """The whole molecules within ``core_radius + buffer`` of ``centres`` in their own box; ``None``: all of them."""
    from aiida_mlip_autopipe.candidates.molecules import box, fragments

    reach = core_radius + buffer
    positions = frame.positions
    distances = np.linalg.norm(positions[:, None, :] - positions[None, list(centres), :], axis=2).min(axis=1)
    near = distances <= reach + 1e-9
    keep = np.zeros(len(frame), dtype=bool)
    for fragment in fragments(frame):
        if near[fragment].any():
            keep[fragment] = True
    if keep.all():
        return None
    indices = np.flatnonzero(keep)
    cut = box(frame[indices], _vacuum_of(frame))
    position_of = {int(old): new for new, old in enumerate(indices)}
    return {
        'atoms': cut,
        'source_indices': indices,
        'core_mask': distances[indices] <= core_radius + 1e-9,
        'centres_in_box': [position_of[int(c)] for c in centres],
        'removed_at_seam': 0,
    }


def cut_slab(
    frame: Any, centres: Sequence[int], core_radius: float, buffer: float, min_distance_factor: float = 0.7
) -> dict[str, Any] | None:
    """An in-plane window of the slab around ``centres``, full thickness, periodic in the plane; ``None``: too small.

    ``frame`` is a slab with its normal along ``z`` and its first two cell vectors in the plane
    (as LAMMPS and the slab builder make it).
    """
    from ase import Atoms

    reach = core_radius + buffer
    cell = frame.cell.array
    if not (np.allclose(cell[:2, 2], 0.0) and np.allclose(cell[2, :2], 0.0)):
        return None  # a normal not along z: no settings for it
    anchor = frame.positions[centres[0]]
    from ase.geometry import find_mic

    unwrapped = anchor + find_mic(frame.positions[list(centres)] - anchor, frame.cell, pbc=frame.pbc)[0]
    low = unwrapped[:, :2].min(axis=0) - reach
    lengths = unwrapped[:, :2].max(axis=0) - unwrapped[:, :2].min(axis=0) + 2 * reach
    # In-plane images of the frame that can fall into the window.
    inverse = np.linalg.inv(cell[:2, :2])
    corners = low + np.array([[0, 0], [1, 0], [0, 1], [1, 1]]) * lengths
    frac_corners = corners @ inverse
    frac_atoms = frame.positions[:, :2] @ inverse
    lo = np.floor(frac_corners.min(axis=0) - frac_atoms.max(axis=0)).astype(int)
    hi = np.ceil(frac_corners.max(axis=0) - frac_atoms.min(axis=0)).astype(int)
    shifts = np.array([[i, j] for i in range(lo[0], hi[0] + 1) for j in range(lo[1], hi[1] + 1)])
    xy = (frame.positions[None, :, :2] + (shifts @ cell[:2, :2])[:, None, :] - low).reshape(-1, 2)
    owner = np.tile(np.arange(len(frame)), len(shifts))
    inside = np.all((xy >= 0) & (xy < lengths), axis=1)
    xy, owner = xy[inside], owner[inside]
    if len(np.unique(owner)) != len(owner):
        return None  # the window would meet its own image
    order = np.argsort(owner, kind='stable')
    xy, owner = xy[order], owner[order]
    vacuum = _vacuum_of(frame)
    z = frame.positions[owner, 2]
    positions = np.column_stack([xy, z - z.min() + vacuum])
    box_cell = np.diag([lengths[0], lengths[1], float(np.ptp(z)) + 2 * vacuum])
    symbols = np.array(frame.get_chemical_symbols())[owner]
    cut = Atoms(symbols=list(symbols), positions=positions, cell=box_cell, pbc=True)
    centre_local = np.column_stack([unwrapped[:, :2] - low, unwrapped[:, 2] - z.min() + vacuum])
    nearest = np.linalg.norm(positions[:, None, :] - centre_local[None, :, :], axis=2).min(axis=1)
    centres_in_box = []
    for c, where in zip(centres, centre_local, strict=True):
        hits = np.flatnonzero((owner == c) & (np.linalg.norm(positions - where, axis=1) < 1e-6))
        if len(hits) != 1:
            raise RuntimeError(f'centre {c} is not in its own window; this is a bug')
        centres_in_box.append(int(hits[0]))
    core = nearest <= core_radius + 1e-9
    # The in-plane seam: pairs across it closer than the covalent limit lose the atom farther out.
    return trim_seam(cut, owner, nearest, core, centres_in_box, min_distance_factor, what='window')


def environments_of_isolated(
    frame: Any,
    gamma: np.ndarray,
    centres: list[int],
    settings: ExtractionSettings,
    frame_index: int = 0,
    source: str = '',
    step: int | None = None,
) -> tuple[list[Environment], list[dict[str, Any]]]:
    """Environments of a slab or cluster frame (from :func:`isolated_frame`) and a report line per decision."""
    kind = 'cluster' if not frame.pbc.any() else 'slab'
    n = len(frame)

    def line(decision: str, **more: Any) -> dict[str, Any]:
        return {'source': source, 'frame': frame_index, 'decision': decision, **more}

    def whole(reason: str) -> tuple[list[Environment], list[dict[str, Any]]]:
        if n > settings.max_box_atoms:
            return [], [line(f'skipped: {n} atoms > max_box_atoms ({reason})')]
        stored = frame.copy()
        stored.pbc = stored.pbc.any()  # a slab is stored as a periodic box, a cluster as not periodic
        env = Environment.whole_frame(stored, gamma, centres, frame_index, source, step)
        return [env], [line(f'whole {kind} ({reason})', atoms=n)]

    if n <= settings.max_atoms:
        return whole(f'{n} atoms <= max_atoms {settings.max_atoms}')
    environments: list[Environment] = []
    report: list[dict[str, Any]] = []
    for group in cluster_centres(frame, centres, settings.merge_distance):
        if kind == 'cluster':
            cut = cut_cluster(frame, group, settings.core_radius, settings.buffer)
            why = 'every molecule is within reach of the centres'
        else:
            cut = cut_slab(frame, group, settings.core_radius, settings.buffer, settings.min_distance_factor)
            why = 'the window would meet its own periodic image'
        if cut is None or len(cut['atoms']) >= n:
            return whole(why if cut is None else f'the {kind} is smaller than its cut-out')
        size = len(cut['atoms'])
        if size > settings.max_box_atoms:
            report.append(line(f'skipped: cut-out of {size} atoms > max_box_atoms {settings.max_box_atoms}'))
            continue
        environments.append(
            Environment(
                atoms=cut['atoms'],
                mode=f'{kind}-cut-out',
                frame_index=frame_index,
                centre_indices=list(group),
                centre_gamma=[float(gamma[c]) for c in group],
                source_indices=np.asarray(cut['source_indices']),
                core_mask=np.asarray(cut['core_mask']),
                force_weights=np.where(cut['core_mask'], 1.0, settings.buffer_weight),
                centres_in_box=cut['centres_in_box'],
                removed_at_seam=cut['removed_at_seam'],
                source=source,
                step=step,
            )
        )
        report.append(
            line(
                f'{kind} cut-out',
                centres=group,
                atoms=size,
                core_atoms=int(np.sum(cut['core_mask'])),
                removed_at_seam=cut['removed_at_seam'],
            )
        )
    return environments, report
