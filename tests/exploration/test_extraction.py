"""Cutting uncertain environments: box contents, exact neighbourhoods, periodic images, seam, duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from aiida_mlip_autopipe.exploration.environments import select_environments
from aiida_mlip_autopipe.exploration.extraction import (
    ExtractionSettings,
    cluster_centres,
    cut_environment,
    environments_from_frame,
)

CORE, BUFFER = 5.0, 2.0


def _frame(repeat=4, rattle=0.08, seed=1):
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return atoms


def _settings(**overrides):
    values = {'gamma_threshold': 2.0, 'core_radius': CORE, 'buffer': BUFFER, 'max_atoms': 16, 'max_box_atoms': 400}
    values.update(overrides)
    return ExtractionSettings(**values)


def _neighbourhood(atoms, index, radius):
    """Sorted (distance, symbol) pairs of everything within ``radius`` of atom ``index`` (all images)."""
    i, j, d = neighbor_list('ijd', atoms, radius)
    mask = i == index
    symbols = np.array(atoms.get_chemical_symbols())
    return sorted(zip(np.round(d[mask], 8), symbols[j[mask]], strict=True))


def _vectors(atoms, index, radius):
    i, vectors = neighbor_list('iD', atoms, radius)
    vectors = vectors[i == index]
    return vectors[np.lexsort(np.round(vectors, 6).T)]


@pytest.mark.parametrize('centre', [0, 137, 511])
def test_centre_neighbourhood_is_exact(centre):
    """Within core + buffer of a centre, the box holds exactly the frame's atoms at the same vectors."""
    frame = _frame()
    cut = cut_environment(frame, [centre], CORE, BUFFER)
    box, inside = cut['atoms'], cut['centres_in_box'][0]
    assert cut['source_indices'][inside] == centre
    reach = CORE + BUFFER - 1e-6
    assert np.allclose(_vectors(box, inside, reach), _vectors(frame, centre, reach), atol=1e-8)
    assert _neighbourhood(box, inside, reach) == _neighbourhood(frame, centre, reach)


def test_core_atoms_neighbourhoods_are_exact_within_the_buffer():
    frame = _frame()
    cut = cut_environment(frame, [200], CORE, BUFFER)
    box = cut['atoms']
    core = np.nonzero(cut['core_mask'])[0]
    assert len(core) > 20
    for k in core:
        source = cut['source_indices'][k]
        assert np.allclose(_vectors(box, k, BUFFER), _vectors(frame, source, BUFFER), atol=1e-8)
    # The core is exactly the atoms within core_radius of the centre.
    distances = frame.get_distances(200, np.arange(len(frame)), mic=True)
    assert sorted(cut['source_indices'][core]) == sorted(np.nonzero(distances <= CORE + 1e-9)[0])


def test_centre_on_the_cell_boundary_uses_periodic_images():
    """A centre at the corner of a triclinic frame: its environment is assembled from images across faces."""
    frame = bulk('Si', 'diamond', a=5.43).repeat((7, 7, 7))  # triclinic (fcc primitive) cell, 686 atoms
    frame.rattle(0.05, seed=4)
    frame.positions[0] = [0.01, 0.01, 0.01]
    frame.wrap()
    cut = cut_environment(frame, [0], CORE, BUFFER)
    box, inside = cut['atoms'], cut['centres_in_box'][0]
    reach = CORE + BUFFER - 1e-6
    assert np.allclose(_vectors(box, inside, reach), _vectors(frame, 0, reach), atol=1e-8)
    # Those neighbours come from several periodic images of the frame: in the box they are
    # contiguous, in the frame they sit at the opposite corners of the cell.
    sources = cut['source_indices'][cut['core_mask']]
    scaled = frame.get_scaled_positions()[sources]
    assert scaled.max() > 0.9 and scaled.min() < 0.1
    assert np.allclose(box.cell.angles(), 90.0)


def test_seam_has_no_overlapping_atoms_and_bulk_density():
    frame = _frame(rattle=0.1)
    cut = cut_environment(frame, [10], CORE, BUFFER, min_distance_factor=0.7)
    box = cut['atoms']
    i, j, d = neighbor_list('ijd', box, 3.0)
    limit = 0.7 * (covalent_radii[box.numbers[i]] + covalent_radii[box.numbers[j]])
    frame_d = neighbor_list('d', frame, 3.0)
    assert d.min() >= min(limit.min(), frame_d.min()) - 1e-9
    density = len(box) / box.get_volume()
    assert density == pytest.approx(len(frame) / frame.get_volume(), rel=0.06)
    assert np.all(cut['lengths'] >= 2 * (CORE + BUFFER) - 1e-9)


def test_short_distances_of_the_frame_itself_are_kept():
    """An uncertain environment may be compressed: pairs that do not cross the seam are never removed."""
    frame = _frame(rattle=0.02)
    neighbour = int(np.argsort(frame.get_distances(0, np.arange(len(frame)), mic=True))[1])
    vector = frame.get_distance(0, neighbour, mic=True, vector=True)
    frame.positions[neighbour] = frame.positions[0] + vector / np.linalg.norm(vector) * 1.2  # 1.2 Å: very short
    cut = cut_environment(frame, [0], CORE, BUFFER, min_distance_factor=0.7)
    assert neighbour in set(cut['source_indices'])
    box = cut['atoms']
    inside = cut['centres_in_box'][0]
    assert min(d for d, _ in _neighbourhood(box, inside, 2.0)) == pytest.approx(1.2)


def test_force_weights_and_whole_frame_rules():
    frame = _frame()
    gamma = np.full(len(frame), 0.7)
    gamma[[3, 400]] = [5.0, 3.0]
    envs, report = environments_from_frame(frame, gamma, _settings(buffer_weight=0.25))
    assert [e.mode for e in envs] == ['cut-out', 'cut-out']
    assert [e.centre_indices for e in envs] == [[3], [400]]
    for env in envs:
        assert set(np.unique(env.force_weights)) == {0.25, 1.0}
        assert np.array_equal(env.force_weights == 1.0, env.core_mask)
        assert env.core_mask[env.centres_in_box].all()
    assert [r['decision'] for r in report] == ['cut-out', 'cut-out']

    small = bulk('Si', 'diamond', a=5.43, cubic=True)
    envs, report = environments_from_frame(small, np.array([0.5] * 7 + [4.0]), _settings())
    assert envs[0].mode == 'whole-frame' and np.all(envs[0].force_weights == 1.0)
    assert envs[0].centre_indices == [7]
    assert 'max_atoms' in report[0]['decision']

    # 64 atoms > max_atoms, but its 10.9 Å cell cannot hold a 14 Å box: kept whole.
    medium = _frame(repeat=2)
    gamma = np.full(64, 0.5)
    gamma[5] = 9.0
    envs, report = environments_from_frame(medium, gamma, _settings())
    assert envs[0].mode == 'whole-frame' and len(envs[0].atoms) == 64
    assert 'own image' in report[0]['decision'] or 'smaller than its cut-out' in report[0]['decision']

    envs, report = environments_from_frame(frame, gamma := np.full(len(frame), 3.0), _settings(max_box_atoms=100))
    assert envs == [] and 'max_box_atoms' in report[0]['decision']
    del gamma


def test_nearby_centres_merge_into_one_environment():
    frame = _frame()
    distances = frame.get_distances(0, np.arange(len(frame)), mic=True)
    near = int(np.argsort(distances)[1])  # a nearest neighbour, ~2.35 Å
    far = int(np.argmax(distances))
    assert cluster_centres(frame, [0, near, far], 3.0) == [[0, near], [far]]
    assert cluster_centres(frame, [0, near, far], 0.0) == [[0], [near], [far]]
    gamma = np.full(len(frame), 0.5)
    gamma[[0, near]] = [4.0, 3.0]
    envs, _ = environments_from_frame(frame, gamma, _settings())
    assert len(envs) == 1 and sorted(envs[0].centre_indices) == sorted([0, near])
    for index in envs[0].centres_in_box:
        source = envs[0].source_indices[index]
        assert np.allclose(
            _vectors(envs[0].atoms, index, CORE + BUFFER - 1e-6),
            _vectors(frame, source, CORE + BUFFER - 1e-6),
            atol=1e-8,
        )


def test_duplicates_are_removed_and_selection_is_deterministic():
    # Two frames that differ by a tiny displacement: their environments are near-duplicates.
    first = _frame(seed=2)
    second = first.copy()
    second.rattle(0.002, seed=9)
    distinct = _frame(rattle=0.25, seed=3)
    gamma = np.full(len(first), 0.5)
    gamma[100] = 6.0
    envs = []
    for index, frame in enumerate((first, second, distinct)):
        found, _ = environments_from_frame(frame, gamma, _settings(), frame_index=index, source='md')
        envs += found
    kept, report = select_environments(envs, _settings(), seed=1)
    assert [env.frame_index for env in kept] == [0, 2]
    assert 'near-duplicate of md frame 0' in report[0]['decision']
    again, _ = select_environments(envs, _settings(), seed=1)
    assert [env.frame_index for env in again] == [0, 2]
    capped, report = select_environments(envs, _settings(max_environments=1), seed=1)
    assert len(capped) == 1 and any('over max_environments' in r['decision'] for r in report)


def test_seed_only_orders_equal_gamma():
    frame = _frame(rattle=0.2, seed=5)
    gamma = np.full(len(frame), 0.5)
    gamma[[0, 300]] = 5.0
    envs, _ = environments_from_frame(frame, gamma, _settings(duplicate_threshold=0.0))
    orders = {
        tuple(e.centre_indices[0] for e in select_environments(envs, _settings(duplicate_threshold=0.0), seed)[0])
        for seed in range(6)
    }
    assert orders == {(0, 300), (300, 0)}
    first = select_environments(envs, _settings(duplicate_threshold=0.0), 3)[0]
    second = select_environments(envs, _settings(duplicate_threshold=0.0), 3)[0]
    assert [e.centre_indices for e in first] == [e.centre_indices for e in second]


def test_fallback_says_the_image_search_was_too_large_not_that_the_box_meets_itself():
    """A 216-atom crystal written in a strongly sheared (equivalent) cell: the box would fit, but filling it
    would take more than 20 000 image shifts. The report says so; before, it said "the box would meet its
    own image", which is false for this frame and sends the reader after the wrong setting."""
    from aiida_mlip_autopipe.exploration.extraction import MAX_IMAGE_SHIFTS

    frame = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(3)
    cell = frame.cell.array.copy()
    sheared = frame.copy()
    sheared.set_cell([cell[0], cell[1] + 20 * cell[0], cell[2] + 20 * cell[1]], scale_atoms=False)
    sheared.wrap()
    assert np.linalg.det(sheared.cell.array) == pytest.approx(np.linalg.det(cell))  # the same lattice

    why: list[str] = []
    assert cut_environment(sheared, [0], CORE, BUFFER, why=why) is None
    assert len(why) == 1 and 'image shifts' in why[0] and f'more than {MAX_IMAGE_SHIFTS}' in why[0]
    gamma = np.full(len(sheared), 0.5)
    gamma[0] = 5.0
    envs, report = environments_from_frame(sheared, gamma, _settings())
    assert [e.mode for e in envs] == ['whole-frame']
    assert 'image shifts' in report[0]['decision']
    assert 'own image' not in report[0]['decision']

    # The 216-atom cubic cell (16.3 Å) holds the 14 Å box; a 64-atom one (10.9 Å) meets itself: that is said.
    assert cut_environment(frame, [0], CORE, BUFFER) is not None
    why = []
    assert cut_environment(_frame(repeat=2), [0], CORE, BUFFER, why=why) is None
    assert why == ['the box would meet its own image']
