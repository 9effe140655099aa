"""The loop's bookkeeping: the first fit's minimum selection, calibration settings and report lines."""

from __future__ import annotations

from aiida import orm
from ase.build import bulk

from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.loop.records import calibration_line, calibration_settings, first_fit_minimum, new_record
from tests.utils import MINIMAL_CONFIG, with_change


def _pool(n_atoms: int, count: int = 3) -> dict[str, orm.StructureData]:
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)[:n_atoms]
    return {f'c{i:04d}': orm.StructureData(ase=atoms) for i in range(count)}


def test_first_fit_selects_enough_environments_for_the_active_set(aiida_profile):
    cfg = parse_config(with_change('training.functions_per_element', 64, MINIMAL_CONFIG))
    # 1.5 x 64 functions / 0.9 (test fraction) = 106.7 environments: 14 cells of 8 atoms.
    assert first_fit_minimum(cfg, _pool(8), labelled=False) == 14
    assert first_fit_minimum(cfg, _pool(8), labelled=True) == cfg.selection.n_select
    assert first_fit_minimum(cfg, {}, labelled=False) == cfg.selection.n_select
    small = parse_config(MINIMAL_CONFIG)  # 32 functions: 6 picks, fewer than n_select
    assert first_fit_minimum(small, _pool(8), labelled=False) == small.selection.n_select


def test_new_record_starts_from_the_labels_so_far():
    record = new_record(3, 42)
    assert record['generation'] == 3 and record['labels_total'] == 42
    assert record['md_runs'] == record['labels_failed'] == 0 and record['timings'] == {}


def test_calibration_settings_come_from_the_uncertainty_section():
    cfg = parse_config(with_change('uncertainty', {'calibrate': True, 'bounds': [1.2, 4.0]}, MINIMAL_CONFIG))
    assert calibration_settings(cfg, 2.0) == {
        'gamma_lower': 2.0,
        'bounds': [1.2, 4.0],
        'error_target': 0.3,
        'adjust': True,
        'min_spearman': 0.3,
    }


def test_calibration_line_says_whether_the_threshold_moved():
    data = {'force_rmse': 80.0, 'n_atoms': 16, 'spearman': 0.5, 'error_target': 0.3, 'measured_threshold': 3.1}
    moved = calibration_line(1, {**data, 'adjusted': True, 'gamma_lower_after': 3.1}, 2.0)
    assert moved.endswith('reached from gamma 3.10; gamma_lower 2.00 -> 3.10')
    kept = calibration_line(1, {**data, 'spearman': None, 'measured_threshold': None, 'adjusted': False}, 2.0)
    assert 'Spearman(gamma, |dF|) = n/a' in kept and kept.endswith('reached from gamma never')
    untrusted = {**data, 'spearman': -0.15, 'adjusted': False, 'trusted': False, 'min_spearman': 0.3}
    refused = calibration_line(2, {**untrusted, 'gamma_lower_after': 0.52}, 0.52)
    assert refused.endswith('gamma_lower kept at 0.52: gamma does not rank the errors (Spearman below 0.30)')
