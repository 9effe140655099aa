"""``screen_candidates`` in AiiDA: verdicts, copies of the kept candidates, provenance."""

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
from aiida_mlip_autopipe.screening.functions import model_input, screen_candidates, screening_settings

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


def test_screen_candidates_verdicts_and_provenance(aiida_profile, mace_model):
    candidates = _silicon_candidates()
    settings = _screening(min_distance_factor=0.0)
    outputs, node = run_get_node(screen_candidates, model=mace_model, settings=settings, structures=candidates)
    assert node.is_finished_ok
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
    assert created == ['structures__rattled', 'structures__relaxed', 'structures__strained', 'verdicts']


def test_geometry_check_with_no_model(aiida_profile):
    candidates = _silicon_candidates()
    outputs = screen_candidates(model=orm.Str('none'), settings=_screening(), structures=candidates)
    records = outputs['verdicts'].get_dict()['candidates']
    assert records['overlap']['reason'] == 'overlapping_atoms'
    assert records['overlap']['value'] == pytest.approx(math.sqrt(3) * 0.35 / 2.22, rel=1e-3)
    assert {records[k]['reason'] for k in ('relaxed', 'rattled', 'strained')} == {'not_screened'}
    assert outputs['verdicts']['model'] == {'backend': 'none'}


def test_a_model_path_string_is_refused(aiida_profile):
    with pytest.raises(ValueError, match='SinglefileData'):
        screen_candidates(model=orm.Str(str(MODEL)), settings=_screening(), structures=_silicon_candidates())
