"""The kind of a structure from its periodicity, and vacuum gaps in frames of a periodic box."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111, molecule

from aiida_mlip_autopipe.candidates.kinds import kind_of, make_contiguous, periodic_for_gaps, vacuum_gaps


def test_kind_of_each_periodicity_and_refusal_of_others():
    assert kind_of((True, True, True)) == 'bulk'
    assert kind_of((True, True, False)) == 'surface'
    assert kind_of((False, False, False)) == 'molecule'
    with pytest.raises(ValueError, match='none of bulk'):
        kind_of((True, False, False))
    with pytest.raises(ValueError, match='none of bulk'):
        kind_of((False, True, True))


def test_gaps_of_crystal_slab_and_molecule():
    crystal = bulk('Cu', 'fcc', a=3.6, cubic=True)
    assert vacuum_gaps(crystal).max() < 2.0
    slab = fcc111('Cu', (2, 2, 4), vacuum=6.0, periodic=False)
    gaps = vacuum_gaps(slab)
    assert gaps[2] == pytest.approx(12.0) and gaps[:2].max() < 3.0
    water = molecule('H2O')
    water.center(vacuum=5.0)
    assert vacuum_gaps(water).min() >= 10.0 - 1e-9


def test_periodic_box_frames_are_recognised_by_their_gaps():
    slab = fcc111('Cu', (2, 2, 4), vacuum=6.0)
    slab.pbc = True  # as LAMMPS returns it: a periodic box
    assert periodic_for_gaps(slab, 7.0) == (True, True, False)
    assert periodic_for_gaps(slab, 13.0) == (True, True, True)  # gap too small to count
    water = molecule('H2O')
    water.center(vacuum=5.0)
    water.pbc = True
    assert periodic_for_gaps(water, 7.0) == (False, False, False)
    crystal = bulk('Cu', 'fcc', a=3.6, cubic=True).repeat(2)
    assert periodic_for_gaps(crystal, 7.0) == (True, True, True)
    # A wire (vacuum along one in-plane vector only) has no settings: it stays periodic.
    wire = fcc111('Cu', (2, 2, 4), vacuum=6.0)
    wire.cell[0] *= 3
    wire.pbc = True
    assert periodic_for_gaps(wire, 7.0) == (True, True, True)


def test_make_contiguous_joins_a_slab_split_by_the_box_boundary():
    slab = fcc111('Cu', (2, 2, 4), vacuum=6.0)
    slab.pbc = True
    shifted = slab.copy()
    shifted.positions[:, 2] += slab.cell[2, 2] - 8.0  # half of it now crosses the top face
    shifted.wrap()
    assert np.ptp(shifted.positions[:, 2]) > 12.0  # split in two
    joined = make_contiguous(shifted, (False, False, True))
    assert np.ptp(joined.positions[:, 2]) == pytest.approx(np.ptp(slab.positions[:, 2]))
    assert np.allclose(
        np.sort(joined.get_all_distances(mic=True).ravel()), np.sort(slab.get_all_distances(mic=True).ravel())
    )
