"""The kind of a structure from its periodicity, and vacuum gaps in frames of a periodic box."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111, molecule

from aiida_mlip_autopipe.candidates.kinds import (
    make_contiguous,
    periodic_for_gaps,
    single_kpoint_height,
    structure_kind,
    vacuum_gaps,
)


def test_structure_kind_from_periodicity_and_vacuum():
    assert structure_kind(bulk('Cu', 'fcc', a=3.6, cubic=True)) == 'bulk'
    slab = fcc111('Cu', (2, 2, 4), vacuum=6.0)  # ASE: pbc (True, True, False)
    assert structure_kind(slab) == 'surface'
    slab.pbc = True  # the periodic box it is stored as
    assert structure_kind(slab) == 'surface'
    thin = fcc111('Cu', (2, 2, 4), vacuum=2.0)
    thin.pbc = True
    assert structure_kind(thin) == 'bulk'  # 4 Å of vacuum: images still interact, no slab
    water = molecule('H2O')
    water.center(vacuum=5.0)
    assert structure_kind(water) == 'molecule'
    water.pbc = True
    assert structure_kind(water) == 'molecule'  # vacuum all round
    wire = fcc111('Cu', (2, 2, 4), vacuum=6.0)
    wire.pbc = (True, False, True)
    with pytest.raises(ValueError, match='all True'):
        structure_kind(wire)


def test_single_kpoint_height_gives_one_kpoint(aiida_profile):
    from aiida import orm
    from aiida_quantumespresso.calculations.functions.create_kpoints_from_distance import (
        create_kpoints_from_distance,
    )

    for distance in (0.2, 0.3, 0.45):
        slab = fcc111('Cu', (1, 1, 3), vacuum=1.0)
        slab.pbc = True
        cell = slab.cell.array.copy()
        cell[2, 2] = single_kpoint_height(distance)
        slab.set_cell(cell)
        mesh = create_kpoints_from_distance.run(orm.StructureData(ase=slab), orm.Float(distance), orm.Bool(False))
        assert mesh.get_kpoints_mesh()[0][2] == 1
        cell[2, 2] -= 0.05  # just below: two points
        slab.set_cell(cell)
        mesh = create_kpoints_from_distance.run(orm.StructureData(ase=slab), orm.Float(distance), orm.Bool(False))
        assert mesh.get_kpoints_mesh()[0][2] == 2


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
