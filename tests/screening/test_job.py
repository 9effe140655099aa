"""``ScreeningCalculation`` run for real on localhost: verdicts, copies of the kept candidates, provenance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.candidates.nodes import candidate_node
from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.screening.job import ScreeningCalculation, model_input, screening_settings

FIXTURES = Path(__file__).parents[1] / 'fixtures'
MODEL = FIXTURES / 'models' / 'tiny_mace_almgsi.model'


def _screening(**screening) -> orm.Dict:
    config = parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'screening': screening})
    return screening_settings(config)


def _silicon_candidates() -> dict[str, orm.StructureData]:
    """Relaxed, rattled, overlapping and strained Si cells as stored candidates."""
    relaxed = bulk('Si', 'diamond', a=5.40, cubic=True)
    overlapping = relaxed.copy()
    overlapping.positions[1] = overlapping.positions[0] + [0.35, 0.35, 0.35]
    rattled = relaxed.copy()
    rattled.positions += np.random.default_rng(0).normal(0, 0.05, rattled.positions.shape)
    strained = relaxed.copy()
    strained.set_cell(relaxed.cell * 1.03, scale_atoms=True)
    atoms = {'relaxed': relaxed, 'overlap': overlapping, 'rattled': rattled, 'strained': strained}
    return {key: candidate_node(a, 'bulk' if key == 'relaxed' else 'test', 0).store() for key, a in atoms.items()}


@pytest.fixture
def mace_model(aiida_profile):
    return model_input(str(MODEL))


def _screen(code, model, settings, structures):
    return run_get_node(ScreeningCalculation, code=code, model=model, settings=settings, structures=structures)


def test_screen_candidates_verdicts_and_provenance(python_code, mace_model):
    candidates = _silicon_candidates()
    settings = _screening(min_distance_factor=0.0)
    outputs, node = _screen(python_code, mace_model, settings, candidates)
    assert node.is_finished_ok, node.exit_message
    verdicts = outputs['verdicts'].get_dict()
    records = verdicts['candidates']
    assert records['overlap']['kept'] is False and records['overlap']['reason'] == 'max_force'
    assert records['overlap']['value'] > records['overlap']['threshold'] == 15.0
    for key in ('relaxed', 'rattled', 'strained'):
        assert records[key]['kept'] is True and records[key]['reason'] == 'ok'
    assert records['relaxed']['max_force'] < 1e-6
    assert verdicts['n_candidates'] == 4 and verdicts['n_kept'] == 3
    assert verdicts['counts_by_reason'] == {'ok': 3, 'max_force': 1}
    assert verdicts['model']['backend'] == 'mace' and verdicts['model']['node_uuid'] == mace_model.uuid
    # Kept structures come out as new nodes with the same keys and lineage.
    kept = outputs['structures']
    assert sorted(kept) == ['rattled', 'relaxed', 'strained']
    for key, copy in kept.items():
        original = candidates[key]
        assert copy.uuid != original.uuid
        assert copy.base.attributes.get('candidate_uuid') == original.uuid
        assert copy.base.extras.get('origin') == original.base.extras.get('origin')
        assert np.allclose(copy.get_ase().positions, original.get_ase().positions)
        assert copy.base.attributes.get('screening')['max_force'] == pytest.approx(records[key]['max_force'])
    assert candidates['overlap'].base.extras.get('screening_verdict') == 'rejected:max_force'
    assert candidates['relaxed'].base.extras.get('screening_verdict') == 'kept'
    incoming = {link.link_label: link.node.uuid for link in node.base.links.get_incoming().all()}
    assert incoming['model'] == mace_model.uuid and incoming['settings'] == settings.uuid
    assert {incoming[f'structures__{k}'] for k in candidates} == {c.uuid for c in candidates.values()}
    created = sorted(link.link_label for link in node.base.links.get_outgoing(link_type=LinkType.CREATE).all())
    assert created == [
        'remote_folder',
        'retrieved',
        'structures__rattled',
        'structures__relaxed',
        'structures__strained',
        'verdicts',
    ]
    # The model ran in the job, not in this process: the job says how long and how much memory it took.
    assert verdicts['job']['seconds'] > 0 and verdicts['job']['peak_memory_mb'] > 0


def test_geometry_check_with_no_model(python_code):
    candidates = _silicon_candidates()
    outputs, node = _screen(python_code, orm.Str('none'), _screening(), candidates)
    assert node.is_finished_ok, node.exit_message
    records = outputs['verdicts'].get_dict()['candidates']
    assert records['overlap']['reason'] == 'overlapping_atoms'
    assert records['overlap']['value'] == pytest.approx(math.sqrt(3) * 0.35 / 2.22, rel=1e-3)
    assert {records[k]['reason'] for k in ('relaxed', 'rattled', 'strained')} == {'not_screened'}
    assert outputs['verdicts']['model'] == {'backend': 'none'}


def test_a_model_path_string_is_refused(python_code):
    with pytest.raises(ValueError, match='SinglefileData'):
        _screen(python_code, orm.Str(str(MODEL)), _screening(), _silicon_candidates())


def test_a_failing_job_says_why(python_code, tmp_path):
    """A model file that is not a model: the job fails, and the exit message carries the job's error."""
    bogus = tmp_path / 'not_a_model.model'
    bogus.write_bytes(b'this is not a torch file')
    outputs, node = _screen(python_code, orm.SinglefileData(bogus), _screening(), _silicon_candidates())
    assert node.exit_status == ScreeningCalculation.exit_codes.ERROR_TASK_FAILED.status
    assert 'The job failed:' in node.exit_message and 'Error' in node.exit_message
    assert 'verdicts' not in outputs
