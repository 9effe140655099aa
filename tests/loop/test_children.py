"""What the loop asks of its children: one MD per condition and start cell, fit seeds, the validation MD."""

from __future__ import annotations

from aiida import orm

from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.loop.children import fit_settings, md_runs, validation_md_settings
from tests.utils import MINIMAL_CONFIG, with_change


def _config(**exploration):
    return parse_config(with_change('exploration', exploration, MINIMAL_CONFIG))


def test_one_md_per_temperature_pressure_and_start_cell():
    cfg = _config(ensemble='npt', temperatures=[300, 900], pressures=[0, 1000], gamma_upper=3.0)
    runs = md_runs(cfg, 2, ['md0001', 'md0000'], gamma_lower=5.0)
    labels = [label for label, _, _ in runs]
    assert labels[:3] == ['md_gen02_T300_P0_md0000', 'md_gen02_T300_P0_md0001', 'md_gen02_T300_P1000_md0000']
    assert len(runs) == 8
    seeds = [settings['seed'] for _, _, settings in runs]
    assert seeds == [cfg.seed + 2000 + i + 1 for i in range(8)]
    # The dump threshold follows the loop's gamma, but stays below the halt threshold.
    assert {settings['gamma_lower'] for _, _, settings in runs} == {0.999 * 3.0}


def test_nvt_runs_have_no_pressure_in_their_label():
    runs = md_runs(_config(temperatures=[600]), 0, ['md0000'], gamma_lower=1.5)
    assert [(label, key) for label, key, _ in runs] == [('md_gen00_T600_md0000', 'md0000')]
    assert runs[0][2]['gamma_lower'] == 1.5


def test_each_fit_retry_gets_another_seed():
    cfg = _config()
    assert fit_settings(cfg, 0)['seed'] == cfg.training.seed
    assert fit_settings(cfg, 2)['seed'] == cfg.training.seed + 2


def test_validation_md_runs_at_the_highest_temperature_for_md_steps():
    cfg = parse_config(
        with_change(
            'validation.md_steps', 50, with_change('exploration', {'temperatures': [300, 1200]}, MINIMAL_CONFIG)
        )
    )
    settings = validation_md_settings(cfg)
    assert settings['temperature'] == 1200.0
    assert settings['n_steps'] == 50 and settings['dump_interval'] == 10


def test_phase_references_are_the_base_structures_of_generation_zero(aiida_profile):
    """Screening's target phase: what generate_candidates built before any operation touched it."""
    from aiida_mlip_autopipe.candidates.functions import generate_candidates
    from aiida_mlip_autopipe.loop.children import phase_references

    config = parse_config(
        {
            'target': {'elements': ['Si'], 'prototype': 'diamond', 'supercell_atoms': [2, 8]},
            'generator': {'operations': [{'kind': 'strain', 'copies': 2}, {'kind': 'rattle', 'copies': 1}]},
        }
    )
    outputs = generate_candidates(config=orm.Dict(config.to_dict()), seed=orm.Int(1), generation=orm.Int(0))
    candidates = dict(outputs['structures'])
    references = phase_references(candidates)
    assert sorted(len(node.sites) for node in references.values()) == [2, 8]
    assert {node.base.extras.get('origin') for node in references.values()} == {'bulk'}
    assert len(references) < len(candidates)
