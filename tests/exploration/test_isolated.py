"""Extraction in slabs and clusters (issue 16): no periodic image across the vacuum, whole molecules, full slabs."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.neighborlist import neighbor_list

from aiida_mlip_autopipe.candidates.kinds import structure_kind
from aiida_mlip_autopipe.candidates.molecules import box, build_cluster, fragments, molecule_from_name
from aiida_mlip_autopipe.exploration.extraction import ExtractionSettings, environments_from_frame
from aiida_mlip_autopipe.exploration.isolated import isolated_frame

SETTINGS = ExtractionSettings(gamma_threshold=2.0, core_radius=3.0, buffer=1.0, max_atoms=8, max_box_atoms=500)


def _water_cluster_frame(count=8, shift=(6.0, 0.0, -5.0)):
    """A water cluster in a padded periodic MD box, drifted across the box boundary (as LAMMPS returns it)."""
    cluster = box(build_cluster(molecule_from_name('H2O'), count, np.random.default_rng(0)), 6.0)
    frame = cluster.copy()
    frame.pbc = True
    frame.positions += shift
    frame.wrap()
    return cluster, frame


def _neighbourhood(atoms, index, radius):
    """Sorted (species, distance) of every atom within ``radius`` of atom ``index`` (images as ``atoms.pbc`` says)."""
    i, j, d = neighbor_list('ijd', atoms, radius)
    return sorted((atoms[int(k)].symbol, round(float(x), 6)) for k, x in zip(j[i == index], d[i == index], strict=True))


def test_cluster_frame_is_recognised_and_joined():
    cluster, frame = _water_cluster_frame()
    assert np.ptp(frame.positions, axis=0).max() > np.ptp(cluster.positions, axis=0).max() + 1  # split by the box
    joined = isolated_frame(frame, 5.0)
    assert not joined.pbc.any()
    assert np.allclose(np.sort(joined.get_all_distances().ravel()), np.sort(cluster.get_all_distances().ravel()))
    assert isolated_frame(bulk('Cu', 'fcc', a=3.6, cubic=True).repeat(2), 5.0) is None


def test_cluster_cut_out_keeps_whole_molecules_and_the_exact_neighbourhood():
    _cluster, frame = _water_cluster_frame()
    gamma = np.zeros(len(frame))
    centre = 3  # the oxygen of the second molecule
    gamma[centre] = 5.0
    environments, report = environments_from_frame(frame, gamma, SETTINGS)
    (env,) = environments
    assert env.mode == 'cluster-cut-out' and report[0]['decision'] == 'cluster cut-out'
    atoms = env.atoms
    assert not atoms.pbc.any()
    assert len(atoms) % 3 == 0 and 3 <= len(atoms) < len(frame)
    assert all(len(f) == 3 for f in fragments(atoms))  # no molecule cut
    box_centre = env.centres_in_box[0]
    reach = SETTINGS.core_radius + SETTINGS.buffer
    joined = isolated_frame(frame, SETTINGS.core_radius)
    assert _neighbourhood(atoms, box_centre, reach) == _neighbourhood(joined, centre, reach)
    assert np.allclose(atoms.positions.min(axis=0), atoms.positions.min(axis=0).min())  # same vacuum each side
    assert atoms.positions.min() > 5.0  # the frame's vacuum, no image within reach
    assert set(env.force_weights) <= {1.0, SETTINGS.buffer_weight} and env.force_weights[box_centre] == 1.0


def test_small_cluster_stays_whole_and_unperiodic():
    _, frame = _water_cluster_frame(count=2)
    gamma = np.full(len(frame), 3.0)
    (env,), report = environments_from_frame(frame, gamma, SETTINGS)
    assert env.mode == 'whole-frame' and 'whole cluster' in report[0]['decision']
    assert not env.atoms.pbc.any()
    assert np.allclose(env.atoms.cell.array, frame.cell.array)
    centre = env.atoms.positions.mean(axis=0)
    assert np.allclose(centre, env.atoms.cell.lengths() / 2, atol=1.0)


def _slab_frame():
    slab = fcc111('Al', (6, 6, 4), a=4.05, vacuum=6.0)
    frame = slab.copy()
    frame.pbc = True
    frame.positions[:, 2] += 9.0  # drifted across the top of the box
    frame.wrap()
    return slab, frame


def test_slab_cut_out_is_periodic_in_plane_with_its_full_thickness():
    slab, frame = _slab_frame()
    gamma = np.zeros(len(frame))
    top = int(np.argmax(slab.positions[:, 2]))
    gamma[top] = 6.0
    (env,), _report = environments_from_frame(frame, gamma, SETTINGS)
    assert env.mode == 'slab-cut-out'
    atoms = env.atoms
    assert atoms.pbc.all() and structure_kind(atoms) == 'surface'  # a periodic box, as every slab
    assert atoms.cell.array[2, 2] == pytest.approx(frame.cell.array[2, 2])  # as tall as the MD box
    assert len(atoms) < len(frame)
    heights = np.unique(np.round(atoms.positions[:, 2], 3))
    assert len(heights) == 4  # every layer: both real surfaces, no cut along the normal
    assert atoms.positions[:, 2].min() == pytest.approx(6.0, abs=1e-6)
    reach = SETTINGS.core_radius + SETTINGS.buffer
    joined = isolated_frame(frame, SETTINGS.core_radius)
    assert _neighbourhood(atoms, env.centres_in_box[0], reach) == _neighbourhood(joined, top, reach)


def test_bulk_frames_are_cut_as_before():
    crystal = bulk('Al', 'fcc', a=4.05, cubic=True).repeat(4)
    gamma = np.zeros(len(crystal))
    gamma[0] = 4.0
    (env,), _ = environments_from_frame(crystal, gamma, SETTINGS)
    assert env.mode == 'cut-out' and env.atoms.pbc.all()


def test_cluster_and_slab_environments_are_fingerprinted_and_deduplicated():
    from aiida_mlip_autopipe.exploration.environments import select_environments

    _, water = _water_cluster_frame()
    gamma = np.zeros(len(water))
    gamma[[3, 4]] = 5.0  # one centre group: O and H of one molecule
    slab, frame = _slab_frame()
    slab_gamma = np.zeros(len(frame))
    slab_gamma[int(np.argmax(slab.positions[:, 2]))] = 6.0
    found = (
        environments_from_frame(water, gamma, SETTINGS)[0] * 2 + environments_from_frame(frame, slab_gamma, SETTINGS)[0]
    )
    kept, report = select_environments(found, SETTINGS, seed=0)
    assert len(kept) == 2  # the repeated cluster cut-out is a duplicate of itself
    assert any('near-duplicate' in line['decision'] for line in report)
    assert {env.mode for env in kept} == {'cluster-cut-out', 'slab-cut-out'}
