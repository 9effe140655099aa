"""SQS with icet on a fixed supercell: exact composition, seeded, closer to random than a random occupation."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from hypothesis import given
from hypothesis import strategies as st

from aiida_mlip_autopipe.candidates.bulk import supercell_for_atoms
from aiida_mlip_autopipe.candidates.sqs import (
    _cluster_space,
    correlation_mismatch,
    generate_sqs,
    integer_counts,
    random_occupation,
)


@given(n_sites=st.integers(1, 200), fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4))
def test_integer_counts_add_up_and_stay_close(n_sites, fractions):
    composition = {f'X{i}': f for i, f in enumerate(fractions)}
    counts = integer_counts(n_sites, composition)
    assert sum(counts.values()) == n_sites
    total = sum(fractions)
    for key, fraction in composition.items():
        assert abs(counts[key] - n_sites * fraction / total) < 1.0 + (1 if n_sites >= len(fractions) else 0)
    if n_sites >= len(fractions):
        assert all(c >= 1 for c in counts.values())


@pytest.fixture(scope='module')
def fcc_cell():
    primitive = bulk('Al', 'fcc', a=4.1)
    supercell, _ = supercell_for_atoms(primitive, 32)
    return primitive, supercell


@pytest.mark.parametrize('fraction', [0.5, 0.25])
def test_sqs_is_closer_to_random_than_random_occupations(fcc_cell, fraction):
    primitive, supercell = fcc_cell
    composition = {'Al': 1 - fraction, 'Mg': fraction}
    result = generate_sqs(primitive, supercell, ['Al', 'Mg'], composition, cutoffs=[6.0, 4.5], n_steps=3000, seed=1)
    assert result.counts == {'Al': round(32 * (1 - fraction)), 'Mg': round(32 * fraction)}
    symbols = result.atoms.get_chemical_symbols()
    assert symbols.count('Mg') == result.counts['Mg']
    assert np.allclose(result.atoms.positions, supercell.positions)
    space = _cluster_space(primitive, ['Al', 'Mg'], [6.0, 4.5])
    concentrations = {s: c / 32 for s, c in result.counts.items()}
    rng = np.random.default_rng(0)
    random_mismatches = [
        correlation_mismatch(space, random_occupation(supercell, result.counts, rng), concentrations) for _ in range(10)
    ]
    assert result.correlation_mismatch < min(m['correlation_mismatch'] for m in random_mismatches)
    assert result.objective < min(m['objective'] for m in random_mismatches)
    summary = result.summary()
    assert summary['n_atoms'] == 32 and summary['cutoffs'] == [6.0, 4.5]
    assert summary['composition'] == pytest.approx(concentrations)


def test_sqs_is_deterministic_for_a_seed(fcc_cell):
    primitive, supercell = fcc_cell
    args = (primitive, supercell, ['Al', 'Mg'], {'Al': 0.5, 'Mg': 0.5})
    first = generate_sqs(*args, cutoffs=[5.0], n_steps=500, seed=11)
    second = generate_sqs(*args, cutoffs=[5.0], n_steps=500, seed=11)
    assert first.atoms.get_chemical_symbols() == second.atoms.get_chemical_symbols()
    assert first.objective == second.objective


def test_too_few_sites_for_two_species_is_reported_not_annealed():
    primitive = bulk('Al', 'fcc', a=4.1)
    result = generate_sqs(primitive, primitive.copy(), ['Al', 'Mg'], {'Al': 0.9, 'Mg': 0.1}, cutoffs=[5.0], seed=0)
    assert len(result.atoms) == 1 and result.counts == {'Al': 1, 'Mg': 0}


def test_one_species_is_refused(fcc_cell):
    primitive, supercell = fcc_cell
    with pytest.raises(ValueError, match='two species'):
        generate_sqs(primitive, supercell, ['Al'], {'Al': 1.0})
