"""Defects only in cells large enough to hold them (issue 13): no 1-atom cell from a 2-atom primitive."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.candidates.config import InterstitialOperation, VacancyOperation
from aiida_mlip_autopipe.candidates.operations import apply_operation, large_enough


@pytest.mark.parametrize('seed', range(5))
def test_a_vacancy_in_the_si_primitive_cell_is_made_in_a_repeat_of_it(seed):
    primitive = bulk('Si', 'diamond', a=5.43)  # 2 atoms: the old builder left a 1-atom cell
    made, info = apply_operation(VacancyOperation(), primitive, np.random.default_rng(seed), ['Si'])
    assert len(made) == 7  # 8 atoms (2 x 2 x 2... the shortest axes first, 4 repeats), one removed
    assert info['repeated'] == [2, 2, 1]
    again, _ = apply_operation(VacancyOperation(), primitive, np.random.default_rng(seed), ['Si'])
    assert np.allclose(again.positions, made.positions)  # seeded: the same cell again


def test_min_atoms_is_configurable_and_a_large_cell_is_kept_as_is():
    cell = bulk('Si', 'diamond', a=5.43, cubic=True)  # 8 atoms
    made, info = apply_operation(VacancyOperation(min_atoms=8), cell, np.random.default_rng(0), ['Si'])
    assert len(made) == 7 and 'repeated' not in info
    bigger, info = apply_operation(VacancyOperation(min_atoms=16), cell, np.random.default_rng(0), ['Si'])
    assert len(bigger) == 15 and info['repeated'] == [2, 1, 1]


def test_interstitials_and_slabs():
    made, _ = apply_operation(InterstitialOperation(), bulk('Al', 'fcc', a=4.05), np.random.default_rng(1), ['Al'])
    assert len(made) == 9
    slab = bulk('Si', 'diamond', a=5.43).repeat((1, 1, 4))
    slab.cell[2] *= 2.0  # vacuum along c: repeat in-plane only
    grown, repeat = large_enough(slab, 16, in_plane_only=True)
    assert repeat[2] == 1 and len(grown) >= 16


def test_a_minimum_below_two_atoms_is_refused():
    with pytest.raises(ValueError, match='min_atoms'):
        VacancyOperation(min_atoms=1)
