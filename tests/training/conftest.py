"""Fixtures for the training tests: the Si fixture frames and a synthetic Si–Ge set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parents[1] / 'fixtures'
DATASET = FIXTURES / 'datasets' / 'si_pw_lda.extxyz'
SI_TINY = FIXTURES / 'potentials' / 'si_tiny'


@pytest.fixture
def si_frames():
    """The 24 real pw.x LDA labels of Si (2- and 8-atom cells)."""
    from ase.io import read

    return read(DATASET, ':')


@pytest.fixture
def sige_frames():
    """Two labelled Si–Ge cells with made-up labels (for element-pair bookkeeping, never fitted)."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for index, a in enumerate((5.50, 5.60)):
        atoms = bulk('Si', 'diamond', a=a, cubic=True)
        atoms.symbols[[1, 3, 5]] = 'Ge'
        atoms.rattle(0.05, seed=index)
        forces = np.random.default_rng(index).normal(0, 0.3, (len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=-850.0 - index, forces=forces)
        atoms.info['source_uuid'] = f'00000000-0000-0000-0000-00000000000{index}'
        frames.append(atoms)
    return frames
