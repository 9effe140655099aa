"""The candidate pool: base structures, operations in order, lineage, determinism, the cap."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.candidates.builder import build_candidates
from aiida_mlip_autopipe.config import parse_config


def _config(target=None, operations=None, **generator):
    return parse_config(
        {
            'target': target or {'elements': ['Si'], 'prototype': 'diamond', 'supercell_atoms': [8, 16]},
            'generator': {
                'sqs': {'cutoffs': [5.0], 'n_steps': 300},
                'operations': operations if operations is not None else [],
                **generator,
            },
        }
    )


def _same(pool_a, pool_b):
    assert [c.name for c in pool_a.candidates] == [c.name for c in pool_b.candidates]
    for a, b in zip(pool_a.candidates, pool_b.candidates, strict=True):
        assert a.atoms.get_chemical_symbols() == b.atoms.get_chemical_symbols()
        assert np.array_equal(a.atoms.positions, b.atoms.positions)
        assert np.array_equal(a.atoms.cell.array, b.atoms.cell.array)


def test_base_structures_per_supercell_size():
    pool = build_candidates(_config(), seed=0)
    assert [len(c.atoms) for c in pool.candidates] == [8, 16]
    assert [c.origin for c in pool.candidates] == ['bulk', 'bulk']
    assert pool.base['lattice_constant'] == pytest.approx(5.43)


def test_operations_grow_the_pool_in_order():
    operations = [
        {'kind': 'strain', 'copies': 3},
        {'kind': 'rattle', 'copies': 2, 'keep_input': False},
        {'kind': 'vacancy', 'copies': 1},
    ]
    pool = build_candidates(_config(operations=operations), seed=0)
    # 2 base -> +6 strained = 8 -> rattle replaces: 16 -> +16 vacancies = 32
    assert len(pool.candidates) == 32
    origins = [c.origin for c in pool.candidates]
    assert origins.count('rattle') == 16 and origins.count('vacancy') == 16
    for candidate in pool.candidates:
        if candidate.origin == 'vacancy':
            parent = pool.candidates[candidate.parent]
            assert candidate.history == [*parent.history, 'vacancy']
            assert len(candidate.atoms) == len(parent.atoms) - 1
        else:
            # Rattled structures lost their (unkept) parents.
            assert candidate.parent is None and candidate.details['parent_dropped']
    assert pool.candidates[-1].history in (['bulk', 'strain', 'rattle', 'vacancy'], ['bulk', 'rattle', 'vacancy'])


def test_lineage_points_to_the_structure_operated_on():
    operations = [{'kind': 'strain', 'copies': 2}, {'kind': 'rattle', 'copies': 1, 'stdev': 0.02}]
    pool = build_candidates(_config(operations=operations), seed=1)
    for index, candidate in enumerate(pool.candidates):
        if candidate.parent is None:
            continue
        assert candidate.parent < index
        parent = pool.candidates[candidate.parent]
        if candidate.origin == 'rattle':
            assert np.allclose(candidate.atoms.cell.array, parent.atoms.cell.array)
            assert candidate.name.startswith(parent.name + '/rattle-')


def test_same_seed_same_pool_and_appending_keeps_earlier_candidates():
    operations = [{'kind': 'strain', 'copies': 2}, {'kind': 'rattle', 'copies': 1}]
    first = build_candidates(_config(operations=operations), seed=5)
    _same(first, build_candidates(_config(operations=operations), seed=5))
    other = build_candidates(_config(operations=operations), seed=6)
    assert not np.array_equal(first.candidates[-1].atoms.positions, other.candidates[-1].atoms.positions)
    longer = build_candidates(_config(operations=[*operations, {'kind': 'vacancy'}]), seed=5)
    by_name = {c.name: c for c in longer.candidates}
    for candidate in first.candidates:
        assert np.array_equal(by_name[candidate.name].atoms.positions, candidate.atoms.positions)


def test_alloy_pool_starts_from_sqs_with_its_objective():
    target = {
        'elements': ['Si', 'Ge'],
        'composition': {'Si': 0.5, 'Ge': 0.5},
        'prototype': 'diamond',
        'supercell_atoms': [16],
    }
    pool = build_candidates(
        _config(
            target=target,
            operations=[{'kind': 'antisite', 'copies': 2}],
            sqs={'n_structures': 2, 'n_steps': 300, 'cutoffs': [5.0]},
        ),
        seed=2,
    )
    sqs = [c for c in pool.candidates if c.origin == 'sqs']
    assert len(sqs) == 2 and len(pool.sqs) == 2
    assert {s['name'] for s in pool.sqs} == {c.name for c in sqs}
    for candidate in sqs:
        assert candidate.atoms.get_chemical_symbols().count('Ge') == 8
    # Two SQS from independent seeds differ.
    assert sqs[0].atoms.get_chemical_symbols() != sqs[1].atoms.get_chemical_symbols()
    assert pool.base['alloy_species'] == ['Si', 'Ge']
    for summary in pool.sqs:
        assert summary['counts'] == {'Si': 8, 'Ge': 8}
        assert np.isfinite(summary['objective'])


def test_cap_keeps_base_structures_and_valid_parents():
    operations = [{'kind': 'strain', 'copies': 4}, {'kind': 'rattle', 'copies': 3}]
    pool = build_candidates(_config(operations=operations, max_candidates=12), seed=0)
    assert len(pool.candidates) == 12 and pool.dropped == 2 * 5 * 4 - 12
    assert [c.origin for c in pool.candidates[:2]] == ['bulk', 'bulk']
    for index, candidate in enumerate(pool.candidates):
        if candidate.parent is not None:
            assert candidate.parent < index
            # The parent is an ancestor: its history is a prefix of the child's.
            parent = pool.candidates[candidate.parent]
            assert candidate.history[: len(parent.history)] == parent.history
            assert candidate.name.startswith(parent.name + '/')
    assert any('max_candidates' in w for w in pool.warnings)
    _same(pool, build_candidates(_config(operations=operations, max_candidates=12), seed=0))


def test_operation_that_cannot_apply_is_an_error_or_a_warning():
    # min_atoms 2: the 2-atom cell is not repeated, so 2 vacancies would leave nothing.
    with pytest.raises(ValueError, match='operation 1 \\(vacancy\\) failed on every structure'):
        build_candidates(
            _config(
                target={'elements': ['Si'], 'prototype': 'diamond', 'supercell_atoms': [2]},
                operations=[{'kind': 'vacancy', 'count': 2, 'min_atoms': 2}],
            ),
            seed=0,
        )
    pool = build_candidates(
        _config(
            target={'elements': ['Si'], 'prototype': 'diamond', 'supercell_atoms': [2, 8]},
            operations=[{'kind': 'vacancy', 'count': 2, 'min_atoms': 2}],
        ),
        seed=0,
    )
    assert len(pool.candidates) == 3
    assert any('skipped 1 structure' in w for w in pool.warnings)


def test_user_structure_becomes_an_alloy_base(tmp_path):
    path = tmp_path / 'al.cif'
    bulk('Al', 'fcc', a=4.1).write(path)
    config = _config(
        target={'elements': ['Al', 'Mg'], 'structure_file': str(path), 'supercell_atoms': [8]},
        operations=[{'kind': 'interstitial', 'element': 'Mg', 'sites': 'octahedral'}],
    )
    pool = build_candidates(config, seed=0)
    assert [c.origin for c in pool.candidates] == ['sqs', 'interstitial']
    assert pool.base['sha256'] and pool.base['source'] == str(path)
    assert pool.candidates[1].atoms.get_chemical_symbols()[-1] == 'Mg'
    # A structure given directly replaces the file.
    direct = build_candidates(config, seed=0, structure=bulk('Al', 'fcc', a=4.2))
    assert direct.base['source'] == 'input structure'
    assert direct.candidates[0].atoms.cell.lengths()[0] != pytest.approx(pool.candidates[0].atoms.cell.lengths()[0])


def test_structure_with_foreign_elements_is_refused():
    with pytest.raises(ValueError, match=r"\['Cu'\], which are not in target.elements"):
        build_candidates(_config(), seed=0, structure=bulk('Cu', 'fcc', a=3.6))
