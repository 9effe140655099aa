"""Batched screening backends: the tiny MACE model file, batches against the ASE calculator, model names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.screening.backends import CalculatorBackend, MaceBackend, load_backend

MODEL = Path(__file__).parents[1] / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'


def test_model_file_is_tiny_and_knows_the_test_elements(mace_backend):
    assert MODEL.stat().st_size < 2_000_000
    assert sorted(mace_backend.elements) == ['Al', 'Mg', 'Si']
    assert len(mace_backend.description['sha256']) == 64


def test_batched_mace_equals_the_ase_calculator(mace_backend):
    from mace.calculators import MACECalculator

    rng = np.random.default_rng(0)
    structures = []
    for n in (1, 2, 3):
        atoms = bulk('Al', 'fcc', a=4.1, cubic=True).repeat((n, 1, 1))
        symbols = np.array(atoms.get_chemical_symbols())
        symbols[rng.random(len(atoms)) < 0.3] = 'Mg'
        atoms.set_chemical_symbols(symbols)
        atoms.positions += rng.normal(0, 0.1, atoms.positions.shape)
        structures.append(atoms)
    structures.append(bulk('Si', 'diamond', a=5.5))
    batched = mace_backend.evaluate(structures * 2)
    reference = CalculatorBackend(MACECalculator(model_paths=str(MODEL), device='cpu', default_dtype='float64'))
    one_by_one = reference.evaluate(structures * 2)
    for a, b in zip(batched, one_by_one, strict=True):
        assert a.energy == pytest.approx(b.energy, abs=1e-8)
        assert np.allclose(a.forces, b.forces, atol=1e-8)
    assert not np.allclose(batched[0].forces, 0.0)


def test_unknown_elements_are_an_error(mace_backend):
    with pytest.raises(ValueError, match=r"knows .* only; the candidates also hold \['Ge'\]"):
        mace_backend.evaluate([bulk('Ge', 'diamond', a=5.66)])


def test_load_backend_names():
    assert load_backend('none') is None
    with pytest.raises(FileNotFoundError, match='neither'):
        load_backend('no/such/model.model')
    with pytest.raises(ValueError, match='MACE-MP size'):
        MaceBackend.from_foundation('huge')
    assert isinstance(load_backend(str(MODEL)), MaceBackend)
    with MODEL.open('rb') as handle:
        assert load_backend(handle).description['sha256'] == MaceBackend.from_file(MODEL).description['sha256']
