"""``SelectionCalculation`` run for real, and the alloy pipeline generate -> screen -> select in the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from ase.io import read

from aiida_mlip_autopipe.candidates.functions import generate_candidates
from aiida_mlip_autopipe.candidates.nodes import candidate_node
from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.screening.job import ScreeningCalculation, model_input, screening_settings
from aiida_mlip_autopipe.selection.job import SelectionCalculation, selection_settings

FIXTURES = Path(__file__).parents[1] / 'fixtures'
MODEL = FIXTURES / 'models' / 'tiny_mace_almgsi.model'
SI_LABELS = FIXTURES / 'datasets' / 'si_pw_lda.extxyz'


def _selection(**selection) -> orm.Dict:
    config = parse_config(
        {
            'target': {'elements': ['Si'], 'prototype': 'diamond'},
            'selection': {'method': 'fps', 'descriptor': {'r_cut': 4.0, 'n_max': 4, 'l_max': 3}, **selection},
        }
    )
    return selection_settings(config)


def _select(code, **inputs):
    outputs, node = run_get_node(SelectionCalculation, code=code, **inputs)
    assert node.is_finished_ok, node.exit_message
    return outputs, node


def test_select_candidates_starts_from_the_labelled_set(python_code):
    frames = read(SI_LABELS, ':')
    labelled = TrainingSetData.from_frames(frames).store()
    rng = np.random.default_rng(1)
    candidates = {}
    # Near-copies of labelled frames, plus genuinely new cells (vacancies, large strain).
    for i in range(4):
        atoms = frames[i].copy()
        atoms.calc = None
        atoms.positions += rng.normal(0, 0.001, atoms.positions.shape)
        candidates[f'known{i}'] = candidate_node(atoms, 'rattle', 0).store()
    for i, a in enumerate((5.30, 5.40, 5.50)):
        atoms = bulk('Si', 'diamond', a=a, cubic=True)
        del atoms[0]
        candidates[f'vacancy{i}'] = candidate_node(atoms, 'vacancy', 0).store()
    compressed = bulk('Si', 'diamond', a=5.0, cubic=True)
    candidates['compressed'] = candidate_node(compressed, 'strain', 0).store()
    settings = _selection()
    outputs, node = _select(
        python_code, settings=settings, seed=orm.Int(0), n=orm.Int(3), labelled=labelled, structures=candidates
    )
    selection = outputs['selection'].get_dict()
    assert selection['n_selected'] == 3 and selection['n_labelled'] == 24
    assert not any(key.startswith('known') for key in selection['order'])
    assert selection['distances'] == sorted(selection['distances'], reverse=True)
    assert sorted(outputs['structures']) == sorted(selection['order'])
    for rank, key in enumerate(selection['order']):
        assert selection['candidates'][key]['verdict'] == 'selected'
        assert selection['candidates'][key]['rank'] == rank
        assert outputs['structures'][key].base.attributes.get('selection')['rank'] == rank
        assert candidates[key].base.extras.get('selection_verdict') == 'selected'
    for i in range(4):
        record = selection['candidates'][f'known{i}']
        assert record['verdict'] == 'budget' and record['distance'] < min(selection['distances'])
    incoming = {link.link_label for link in node.base.links.get_incoming().all()}
    assert {'settings', 'seed', 'n', 'labelled'} <= incoming
    # Without the labelled set the seed picks the first candidate and the distances are relative.
    fresh, _ = _select(python_code, settings=settings, seed=orm.Int(0), n=orm.Int(3), structures=candidates)
    assert fresh['selection']['distances'][0] is None and fresh['selection']['n_labelled'] == 0


def test_select_candidates_is_deterministic_and_skips_duplicates(python_code):
    atoms = bulk('Si', 'diamond', a=5.40, cubic=True)
    twin = candidate_node(atoms, 'bulk', 0).store()
    candidates = {'a': twin, 'b': candidate_node(atoms, 'bulk', 0).store()}
    strained = atoms.copy()
    strained.set_cell(atoms.cell * 1.04, scale_atoms=True)
    candidates['c'] = candidate_node(strained, 'strain', 0).store()
    settings = _selection(n_select=3)
    first = _select(python_code, settings=settings, seed=orm.Int(5), structures=candidates)[0]['selection'].get_dict()
    second = _select(python_code, settings=settings, seed=orm.Int(5), structures=candidates)[0]['selection'].get_dict()
    assert first['order'] == second['order'] and first['distances'] == second['distances']
    assert first['n_requested'] == 3 and first['n_selected'] == 2 and first['stopped'] == 'duplicates'
    verdicts = sorted(r['verdict'] for r in first['candidates'].values())
    assert verdicts == ['duplicate', 'selected', 'selected']


@pytest.mark.parametrize(('model', 'pool_size'), [('mace', 40), ('chgnet', 16)])
def test_alloy_pipeline_generate_screen_select(python_code, model, pool_size):
    """Al–Mg fcc: generate_candidates -> ScreeningCalculation -> SelectionCalculation, every step in the graph."""
    config = parse_config(
        {
            'name': 'almg-test',
            'seed': 4,
            'target': {
                'elements': ['Al', 'Mg'],
                'composition': {'Al': 0.75, 'Mg': 0.25},
                'prototype': 'fcc',
                'supercell_atoms': [8, 16],
            },
            'generator': {
                'sqs': {'cutoffs': [5.0], 'n_steps': 500},
                'operations': [
                    {'kind': 'strain', 'copies': 2},
                    {'kind': 'rattle', 'copies': 1, 'stdev': 0.08},
                    {'kind': 'antisite', 'copies': 1, 'keep_input': True},
                    {'kind': 'interstitial', 'sites': 'octahedral', 'element': 'Mg', 'min_distance': 1.5},
                ],
                'max_candidates': pool_size,
            },
            'screening': {'model': str(MODEL) if model == 'mace' else 'chgnet'},
            'selection': {'method': 'fps', 'n_select': 5, 'descriptor': {'r_cut': 4.5, 'n_max': 4, 'l_max': 3}},
        }
    )
    seed = orm.Int(config.seed)
    generated, gen_node = run_get_node(generate_candidates, config=orm.Dict(config.to_dict()), seed=seed)
    candidates = generated['structures']
    assert len(candidates) == pool_size
    # One overlapping candidate slipped in by hand: screening must catch it.
    broken = candidates['c0000'].get_ase()
    broken.positions[1] = broken.positions[0] + [0.5, 0.0, 0.0]
    pool = dict(candidates)
    pool['broken'] = candidate_node(broken, 'test', 0).store()
    screened, screen_node = run_get_node(
        ScreeningCalculation,
        code=python_code,
        model=model_input(config.screening.model),
        settings=screening_settings(config),
        structures=pool,
    )
    verdicts = screened['verdicts'].get_dict()
    assert set(verdicts['candidates']) == set(pool)
    assert verdicts['candidates']['broken']['kept'] is False
    assert verdicts['candidates']['broken']['reason'] == 'overlapping_atoms'
    assert verdicts['n_kept'] >= pool_size - 3
    selected, select_node = _select(
        python_code,
        settings=selection_settings(config),
        seed=seed,
        n=orm.Int(config.selection.n_select),
        structures=screened['structures'],
    )
    selection = selected['selection'].get_dict()
    assert selection['n_selected'] == 5 and selection['species'] == ['Al', 'Mg']
    # Every selected structure traces back to a generated candidate, its origin and its verdict.
    generated_uuids = {node.uuid for node in candidates.values()}
    for key, node in selected['structures'].items():
        source = node.base.attributes.get('candidate_uuid')
        assert source in generated_uuids
        assert verdicts['candidates'][key]['kept'] is True
        assert node.base.extras.get('origin') == orm.load_node(source).base.extras.get('origin')
        # Provenance: selected copy <- selection job <- kept copy <- screening job <- candidate <- generate.
        assert node.creator.uuid == select_node.uuid
        kept_copy = screened['structures'][key]
        assert kept_copy.creator.uuid == screen_node.uuid
        assert orm.load_node(source).creator.uuid == gen_node.uuid
    origins = {node.base.extras.get('origin') for node in selected['structures'].values()}
    assert origins <= {'sqs', 'strain', 'rattle', 'antisite', 'interstitial'}


SI_TINY = FIXTURES / 'potentials' / 'si_tiny'


def _strained_pool(count: int = 12) -> dict[str, orm.StructureData]:
    """8-atom Si cells from -8 % to +8 % linear strain, some rattled: the tiny potential knows only the middle."""
    rng = np.random.default_rng(3)
    base = bulk('Si', 'diamond', a=5.40, cubic=True)
    pool = {}
    for i, strain in enumerate(np.linspace(-0.08, 0.08, count)):
        atoms = base.copy()
        atoms.set_cell(base.cell * (1 + strain), scale_atoms=True)
        atoms.positions += rng.normal(0, 0.03 * (i % 3), atoms.positions.shape)
        pool[f's{i:02d}'] = candidate_node(atoms, 'strain', 0).store()
    return pool


def _doptimal(**selection) -> orm.Dict:
    config = parse_config(
        {
            'target': {'elements': ['Si'], 'prototype': 'diamond'},
            'selection': {'method': 'doptimal', **selection},
            'training': {'functions_per_element': 16},
        }
    )
    return selection_settings(config)


@pytest.fixture
def si_potential(aiida_profile):
    from aiida_mlip_autopipe.data.potential import AcePotentialData

    return AcePotentialData.from_files(
        SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace', SI_TINY / 'potential.asi'
    ).store()


def test_doptimal_picks_what_the_potential_extrapolates_on_and_scores_every_candidate(python_code, si_potential):
    pool = _strained_pool()
    twin = pool['s00'].get_ase()
    pool['s00_twin'] = candidate_node(twin, 'strain', 0).store()
    outputs, node = _select(
        python_code, settings=_doptimal(), seed=orm.Int(0), n=orm.Int(4), structures=pool, potential=si_potential
    )
    selection = outputs['selection'].get_dict()
    assert selection['method'] == 'doptimal' and selection['start'] == 'potential'
    records = selection['candidates']
    # Every candidate has a score, picked or not.
    assert all(r['gamma'] is not None and r['gamma_after'] is not None for r in records.values())
    order = selection['order']
    assert 1 <= len(order) <= 4
    # The first pick is the candidate the potential extrapolates on most.
    assert records[order[0]]['gamma'] == max(r['gamma'] for r in records.values())
    assert selection['scores'][0] == pytest.approx(records[order[0]]['gamma'])
    # Picking grows the active set: the picks interpolate afterwards, and a twin of a pick is never picked too.
    for key in order:
        assert records[key]['gamma_after'] <= 1.01
    assert not {'s00', 's00_twin'} <= set(order)
    # The strained extremes are what the potential does not know; the unstrained middle is not picked first.
    assert order[0] in {'s00', 's00_twin', 's10', 's11'}
    assert {'potential'} <= {link.link_label for link in node.base.links.get_incoming().all()}
    assert outputs['structures'][order[0]].base.attributes.get('selection')['gamma'] == records[order[0]]['gamma']


def test_doptimal_says_no_when_everything_interpolates(python_code, si_potential):
    base = bulk('Si', 'diamond', a=5.40, cubic=True)
    pool = {'ideal': candidate_node(base, 'bulk', 0).store()}
    outputs, _ = _select(
        python_code, settings=_doptimal(), seed=orm.Int(0), n=orm.Int(3), structures=pool, potential=si_potential
    )
    selection = outputs['selection'].get_dict()
    assert selection['order'] == [] and selection['stopped'] == 'interpolating'
    assert selection['candidates']['ideal']['verdict'] == 'interpolating'
    assert 'structures' not in outputs


def test_doptimal_cold_start_on_an_untrained_basis(python_code):
    """Before the first fit: MaxVol over the candidates' atoms on the basis the fit will use."""
    from aiida_mlip_autopipe.loop.children import untrained_basis_section

    config = parse_config(
        {
            'target': {'elements': ['Si'], 'prototype': 'diamond'},
            'selection': {'method': 'doptimal'},
            'training': {'functions_per_element': 16},
        }
    )
    settings = orm.Dict({**selection_settings(config).get_dict(), 'basis': untrained_basis_section(config)})
    outputs, _ = _select(python_code, settings=settings, seed=orm.Int(0), n=orm.Int(3), structures=_strained_pool())
    selection = outputs['selection'].get_dict()
    assert selection['start'].startswith('untrained basis') and len(selection['order']) == 3
    rows = {key: r['active_set_rows'] for key, r in selection['candidates'].items()}
    # The active set has one row per basis function (rank-1 radial functions included); the picks hold the most.
    assert sum(rows.values()) == selection['n_functions']['Si'] >= 16
    picked = [rows[k] for k in selection['order']]
    assert picked == sorted(picked, reverse=True) and min(picked) >= max(
        r for k, r in rows.items() if k not in selection['order']
    )
