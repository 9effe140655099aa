"""Shortest distances and closest pairs, periodic images included."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.candidates.bulk import supercell_for_atoms
from aiida_mlip_autopipe.common.geometry import closest_pair, min_distance


def _cell(prototype: str, element: str, a: float, n: int = 32):
    return supercell_for_atoms(bulk(element, prototype, a=a), n)[0]


def test_min_distance_includes_periodic_images():
    atoms = bulk('Al', 'fcc', a=4.05)
    assert min_distance(atoms) == pytest.approx(4.05 / np.sqrt(2))
    assert min_distance(_cell('diamond', 'Si', 5.43)) == pytest.approx(5.43 * np.sqrt(3) / 4)


def test_closest_pair_within_cutoff():
    from ase import Atoms

    atoms = Atoms('Si3', positions=[[0, 0, 0], [0.3, 0, 0], [2.5, 2.5, 2.5]], cell=[5, 5, 5], pbc=True)
    assert closest_pair(atoms, 0.5) == pytest.approx((0, 1, 0.3))
    assert closest_pair(atoms, 0.2) is None
    # An atom closer to its own periodic image than the cutoff: i == j.
    lone = Atoms('Si', cell=[0.4, 5, 5], pbc=True)
    assert closest_pair(lone, 0.5) == pytest.approx((0, 0, 0.4))
