"""The screening models of the tests: the project's tiny MACE model, and Si cells it knows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ase.build import bulk

from aiida_mlip_autopipe.screening.backends import MaceBackend

MODEL = Path(__file__).parents[1] / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'


@pytest.fixture(scope='module')
def mace_backend():
    return MaceBackend.from_file(MODEL, batch_size=4)


@pytest.fixture
def relaxed_silicon():
    """Diamond Si at the LDA lattice constant: zero forces by symmetry, the energy the model learnt."""
    return bulk('Si', 'diamond', a=5.40, cubic=True)


@pytest.fixture
def overlapping_silicon(relaxed_silicon):
    """Two atoms 0.6 Å apart (sum of covalent radii 2.22 Å)."""
    atoms = relaxed_silicon.copy()
    atoms.positions[1] = atoms.positions[0] + [0.6 / math.sqrt(3)] * 3
    return atoms
