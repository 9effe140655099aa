"""score_uncertainty: the current potential's gamma on unlabelled pool candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiida import orm

from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.uncertainty.scoring import score_uncertainty

SI_TINY = Path(__file__).parents[1] / 'fixtures' / 'potentials' / 'si_tiny'


@pytest.fixture
def potential(aiida_profile):
    return AcePotentialData.from_files(
        SI_TINY / 'potential.yaml', SI_TINY / 'potential.yace', SI_TINY / 'potential.asi'
    )


def test_only_extrapolating_candidates_come_back(potential, si_atoms):
    crystal = si_atoms.repeat(2)
    squeezed = crystal.copy()
    squeezed.set_cell(crystal.cell * 0.85, scale_atoms=True)
    squeezed.rattle(0.15, seed=1)
    nodes = {'crystal': orm.StructureData(ase=crystal), 'squeezed': orm.StructureData(ase=squeezed)}
    results, node = score_uncertainty.run_get_node(
        potential=potential, settings=orm.Dict({'gamma_threshold': 2.0}), structures=nodes
    )
    scores = results['scores']['candidates']
    assert scores['crystal']['max_gamma'] < 2.0 < scores['squeezed']['max_gamma']
    assert list(results['structures']) == ['squeezed']
    copy = results['structures']['squeezed']
    assert copy.base.attributes.get('max_gamma') == pytest.approx(scores['squeezed']['max_gamma'])
    assert copy.base.attributes.get('candidate_uuid') == nodes['squeezed'].uuid
    assert {'potential', 'settings'} <= {link.link_label for link in node.base.links.get_incoming().all()}
