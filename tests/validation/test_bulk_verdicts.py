"""Bulk validation targets: each check passes or fails with its number; unmeasured is not a pass (issue 13)."""

from __future__ import annotations

from aiida_mlip_autopipe.validation.core import bulk_verdicts, verdict_line

TOLERANCES = {'lattice': 0.001, 'bulk_modulus': 0.03, 'ev_rmse_mev': 1.0, 'phonon_mae_thz': 0.2}


def _result(ratio=1.0004, b_error=2.0, rmse=0.4, mae=0.12):
    return {
        'ev': {
            'ace': {'v0': 20.0, 'bulk_modulus': 96.4},
            'dft': {'v0': 20.0, 'bulk_modulus': 94.4},
            'lattice_ratio': ratio,
            'bulk_modulus_error': b_error,
            'rmse_relative_mev': rmse,
        },
        'phonons': {'mae_thz': mae},
    }


def test_within_every_target_passes():
    verdicts = bulk_verdicts(_result(), TOLERANCES)
    assert verdicts['all_passed'] is True and verdicts['failed'] == []
    assert verdicts['checks']['bulk_modulus']['value'] == 2.0 / 94.4
    assert 'all passed' in verdict_line(verdicts)


def test_the_demo_of_issue_13_fails_on_the_bulk_modulus():
    # B0 116.7 vs 94.4 GPa (+24 %), volume -2 % (lattice -0.7 %): the verdict says no, naming both.
    verdicts = bulk_verdicts(_result(ratio=0.9933, b_error=22.3, rmse=3.0), TOLERANCES)
    assert verdicts['all_passed'] is False
    assert verdicts['failed'] == ['bulk_modulus', 'ev_rmse', 'lattice']
    line = verdict_line(verdicts)
    assert 'bulk_modulus +23.62% (target 3.0%) FAIL' in line and 'NOT all passed' in line


def test_what_dft_did_not_measure_is_not_a_pass():
    result = _result()
    del result['phonons']
    del result['ev']['dft'], result['ev']['lattice_ratio'], result['ev']['bulk_modulus_error']
    del result['ev']['rmse_relative_mev']
    verdicts = bulk_verdicts(result, TOLERANCES)
    assert verdicts['all_passed'] is False
    assert verdicts['not_measured'] == ['bulk_modulus', 'ev_rmse', 'lattice', 'phonon_mae']
