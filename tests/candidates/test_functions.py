"""``generate_candidates``: outputs, attributes and extras, provenance links, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.candidates.functions import generate_candidates
from aiida_mlip_autopipe.config import parse_config


def _config(**target) -> orm.Dict:
    config = parse_config(
        {
            'target': {
                'elements': ['Al', 'Mg'],
                'composition': {'Al': 0.75, 'Mg': 0.25},
                'prototype': 'fcc',
                'supercell_atoms': [8],
                **target,
            },
            'generator': {
                'sqs': {'cutoffs': [5.0], 'n_steps': 300},
                'operations': [
                    {'kind': 'strain', 'copies': 1},
                    {'kind': 'rattle', 'copies': 1},
                    {'kind': 'interstitial', 'sites': 'octahedral', 'element': 'Mg', 'keep_input': False},
                ],
            },
        }
    )
    return orm.Dict(config.to_dict())


def test_candidates_carry_origin_generation_and_parent(aiida_profile):
    outputs, node = run_get_node(generate_candidates, config=_config(), seed=orm.Int(1), generation=orm.Int(2))
    assert node.is_finished_ok
    structures = outputs['structures']
    metadata = outputs['metadata'].get_dict()
    # 1 SQS -> +1 strain = 2 -> +2 rattle = 4 -> interstitials replace them: 4
    assert sorted(structures) == ['c0000', 'c0001', 'c0002', 'c0003']
    assert metadata['n_candidates'] == 4 and metadata['counts_by_origin'] == {'interstitial': 4}
    assert metadata['sqs'][0]['counts'] == {'Al': 6, 'Mg': 2}
    for key, structure in structures.items():
        assert structure.is_stored
        record = next(r for r in metadata['candidates'] if r['key'] == key)
        assert record['uuid'] == structure.uuid
        attributes = structure.base.attributes.all
        extras = structure.base.extras.all
        assert attributes['origin'] == extras['origin'] == 'interstitial'
        assert attributes['generation'] == extras['generation'] == 2
        assert attributes['history'][0] == 'sqs' and attributes['history'][-1] == 'interstitial'
        assert structure.label.startswith('gen02/sqs-8-0')
        assert len(structure.sites) == 9
        # Their parents were not kept (keep_input: false), so no parent_uuid.
        assert 'parent_uuid' not in attributes


def test_provenance_links(aiida_profile):
    config = _config(supercell_atoms=[4])
    seed = orm.Int(3)
    outputs, node = run_get_node(generate_candidates, config=config, seed=seed)
    incoming = {link.link_label: link.node.uuid for link in node.base.links.get_incoming().all()}
    assert incoming == {'config': config.uuid, 'seed': seed.uuid}
    outgoing = node.base.links.get_outgoing(link_type=LinkType.CREATE).all()
    labels = sorted(link.link_label for link in outgoing)
    assert labels == ['metadata'] + [f'structures__{k}' for k in sorted(outputs['structures'])]
    for structure in outputs['structures'].values():
        assert structure.creator.uuid == node.uuid


def test_parents_are_other_outputs(aiida_profile):
    config = parse_config(
        {
            'target': {'elements': ['Si'], 'prototype': 'diamond', 'supercell_atoms': [8]},
            'generator': {'operations': [{'kind': 'strain', 'copies': 2}, {'kind': 'vacancy'}]},
        }
    )
    base = orm.StructureData(ase=bulk('Si', 'diamond', a=5.40)).store()
    outputs, _ = run_get_node(generate_candidates, config=orm.Dict(config.to_dict()), seed=orm.Int(0), structure=base)
    by_uuid = {s.uuid: s for s in outputs['structures'].values()}
    origins = {}
    for structure in outputs['structures'].values():
        origin = structure.base.extras.get('origin')
        origins[origin] = origins.get(origin, 0) + 1
        parent_uuid = structure.base.extras.get('parent_uuid')
        assert parent_uuid == structure.base.attributes.get('parent_uuid')
        if origin == 'structure_file':
            assert parent_uuid == base.uuid
        else:
            parent = by_uuid[parent_uuid]
            expected = {'strain': 'structure_file', 'vacancy': ('structure_file', 'strain')}[origin]
            assert parent.base.extras.get('origin') in expected
    assert origins == {'structure_file': 1, 'strain': 2, 'vacancy': 3}
    # The base cell came from the input, not from the prototype.
    first = outputs['structures']['c0000']
    assert first.get_ase().get_volume() == pytest.approx(4 * base.get_ase().get_volume())


def test_same_inputs_same_structures(aiida_profile):
    config = _config()
    first, _ = run_get_node(generate_candidates, config=config, seed=orm.Int(9))
    second, _ = run_get_node(generate_candidates, config=config, seed=orm.Int(9))
    other, _ = run_get_node(generate_candidates, config=config, seed=orm.Int(10))
    for key, structure in first['structures'].items():
        twin = second['structures'][key]
        assert structure.uuid != twin.uuid
        assert structure.get_site_kindnames() == twin.get_site_kindnames()
        assert np.array_equal(structure.get_ase().positions, twin.get_ase().positions)
        assert np.array_equal(np.array(structure.cell), np.array(twin.cell))
    assert not np.array_equal(
        first['structures']['c0003'].get_ase().positions, other['structures']['c0003'].get_ase().positions
    )


def test_invalid_config_fails_with_the_field_name(aiida_profile):
    bad = orm.Dict({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'generator': {'max_candidate': 3}})
    with pytest.raises(ValueError, match='generator.max_candidate'):
        generate_candidates(config=bad, seed=orm.Int(0))
