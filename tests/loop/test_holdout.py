"""The held-out set, the regression check of each fit and the choice among the final refits."""

from __future__ import annotations

import pytest
from aiida import orm
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlip_autopipe.candidates.nodes import candidate_node
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.loop import stop_rules
from aiida_mlip_autopipe.loop.holdout import draw_holdout, holdout_keys, split_labels
from aiida_mlip_autopipe.loop.records import record_holdout
from aiida_mlip_autopipe.loop.refit import best_potential


def _pool():
    atoms = bulk('Si', 'diamond', a=5.4, cubic=True)
    origins = ['strain'] * 6 + ['rattle'] * 3 + ['vacancy']
    return {f'c{i:02d}': candidate_node(atoms, origin, 0).store() for i, origin in enumerate(origins)}


def test_the_draw_spreads_over_origins_and_is_seeded(aiida_profile):
    pool = _pool()
    keys = holdout_keys(pool, 3, seed=1)
    assert {pool[k].base.extras.get('origin') for k in keys} == {'strain', 'rattle', 'vacancy'}
    assert keys == holdout_keys(pool, 3, seed=1) and len(set(keys)) == 3
    rattled = holdout_keys(pool, 2, seed=1, origins=('rattle',))
    assert len(rattled) == 2 and all(pool[k].base.extras.get('origin') == 'rattle' for k in rattled)
    drawn = draw_holdout(n=orm.Int(3), seed=orm.Int(1), origins=orm.List([]), structures=pool)['structures']
    assert sorted(drawn) == sorted(keys)
    assert all(node.base.attributes.get('holdout') is True for node in drawn.values())


def test_split_labels_keeps_held_out_frames_apart(aiida_profile):
    frames = []
    structures = [orm.StructureData(ase=bulk('Si', 'diamond', a=a)).store() for a in (5.3, 5.4, 5.5)]
    for structure in structures:
        atoms = structure.get_ase()
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=[[0, 0, 0]] * len(atoms))
        atoms.info['structure_uuid'] = structure.uuid
        frames.append(atoms)
    labels = TrainingSetData.from_frames(frames).store()
    out = split_labels(labels=labels, holdout=orm.List([structures[1].uuid]))
    assert out['training'].num_frames == 2 and out['holdout'].num_frames == 1
    assert out['holdout'].get_frames()[0].info['structure_uuid'] == structures[1].uuid


def _errors(new, previous=None):
    data = {'new': {'energy_rmse': new[0], 'force_rmse': new[1], 'n_frames': 4}}
    if previous:
        data['previous'] = {'energy_rmse': previous[0], 'force_rmse': previous[1], 'n_frames': 4}
    return data


def test_a_worse_fit_is_a_regression_and_a_better_one_is_not():
    record = {}
    assert record_holdout(record, _errors((2.0, 90.0), (2.1, 100.0)), tolerance=0.1) is None
    assert 'fit_regression' not in record and record['holdout_force_rmse'] == 90.0
    message = record_holdout(record, _errors((3.0, 95.0), (2.0, 100.0)), tolerance=0.1)
    assert message is not None and 'energy RMSE 3.0 vs 2.0' in message and 'force' not in message
    assert record['fit_regression'] == message
    assert record_holdout({}, _errors((3.0, 95.0)), tolerance=0.1) is None  # nothing to compare with


def test_the_plateau_is_measured_on_the_held_out_set():
    loop = {'stable_fraction': 0.0, 'rmse_plateau': 0.05, 'dft_budget': 100, 'max_generations': 10}
    flat = [{'generation': 1, 'holdout_force_rmse': 99.0, 'holdout_force_rmse_previous': 100.0, 'labels_total': 5}]
    decision = stop_rules.evaluate_stop_rules(flat, loop)
    assert decision.rule == 'rmse_plateau' and 'held-out set' in decision.message
    improving = [{**flat[0], 'holdout_force_rmse': 80.0}]
    assert stop_rules.evaluate_stop_rules(improving, loop) is None


def test_the_best_refit_wins_and_the_loop_potential_can_win():
    errors = {
        'loop': {'energy_rmse': 4.0, 'force_rmse': 100.0},
        'seed0': {'energy_rmse': 2.0, 'force_rmse': 90.0},
        'seed1': {'energy_rmse': 1.0, 'force_rmse': 150.0},
        'job': {'seconds': 1.0},
    }
    best, scores = best_potential(errors)
    assert best == 'seed0' and scores['loop'] == pytest.approx(2.0)
    assert scores['seed1'] == pytest.approx(1.75) and scores['seed0'] == pytest.approx(1.4)
    worse = {'loop': errors['loop'], 'seed0': {'energy_rmse': 5.0, 'force_rmse': 120.0}}
    assert best_potential(worse)[0] == 'loop'


def test_the_final_basis_is_sized_to_the_data(aiida_profile):
    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.loop.children import final_basis_size

    config = parse_config(
        {'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'training': {'functions_per_element': 16}}
    )
    frames = []
    for _ in range(32):  # 32 cells of 8 atoms: 256 atoms -> 32 functions
        atoms = bulk('Si', 'diamond', a=5.4, cubic=True)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=[[0, 0, 0]] * 8)
        frames.append(atoms)
    assert final_basis_size(config, TrainingSetData.from_frames(frames)) == 32
    # 32 atoms cannot hold 32 functions in the active set: the data caps the floor, never below the loop's basis.
    assert final_basis_size(config, TrainingSetData.from_frames(frames[:4])) == 16
    assert final_basis_size(config, TrainingSetData.from_frames(frames[:8])) == 32  # 64 atoms: the floor of 32
    config.loop.final_fit.min_functions_per_element = 8
    assert final_basis_size(config, TrainingSetData.from_frames(frames[:8])) == 16  # one per 8 atoms, >= the loop's
    config.loop.final_fit.min_functions_per_element = 32
    many = frames * 4  # 1024 atoms: one function per 8 -> 128, capped at max_functions_per_element
    assert final_basis_size(config, TrainingSetData.from_frames(many)) == 64
    config.loop.final_fit.min_functions_per_element = 8
    config.loop.final_fit.max_functions_per_element = 24
    assert final_basis_size(config, TrainingSetData.from_frames(frames)) == 24
    config.loop.final_fit.functions_per_element = 40
    assert final_basis_size(config, TrainingSetData.from_frames(frames)) == 40
