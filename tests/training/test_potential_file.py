"""A malformed reference-energy block of a pacemaker potential is an error naming the file and the block.

Before, it became ``None``: the next warm-started fit then silently used ``reference_energy:
auto`` and every energy of the new potential moved by the refitted references.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiida import orm
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_mlip_autopipe.training.potential_file import load_potential_yaml, summarize_potential

FIXTURES = Path(__file__).parents[1] / 'fixtures'
SUCCESS = FIXTURES / 'pacemaker' / 'success'
GOOD_BLOCK = '{"Si": -107.613762622105, "shift": 0.06397132917375359}'
MALFORMED = {
    'not-json': '{"Si": -107.6, "shift": 0.06',
    'a-list': '[-107.6, 0.06]',
    'not-a-number': '{"Si": "minus a hundred"}',
    'not-finite': '{"Si": Infinity}',
    'not-an-element': '{"Xx": -107.6}',
    'empty': '{}',
}


def _malformed_yaml(block: str) -> str:
    text = (SUCCESS / 'output_potential.yaml').read_text()
    assert GOOD_BLOCK.replace('"', '\\"') in text
    return text.replace(GOOD_BLOCK.replace('"', '\\"'), block.replace('"', '\\"'))


def test_the_good_block_is_read():
    from aiida_mlip_autopipe.training.potential_file import parse_reference_energy

    summary = summarize_potential(load_potential_yaml((SUCCESS / 'output_potential.yaml').read_text()))
    assert summary.reference_energy == pytest.approx({'Si': -107.613762622105, 'shift': 0.06397132917375359})
    assert parse_reference_energy(None) is None  # absent is not malformed


@pytest.mark.parametrize('case', sorted(MALFORMED))
def test_malformed_block_is_an_error_naming_file_and_block(case):
    content = load_potential_yaml(_malformed_yaml(MALFORMED[case]))
    with pytest.raises(ValueError, match=r'output_potential\.yaml: metadata\.reference_energy'):
        summarize_potential(content, source='output_potential.yaml')


def test_parser_refuses_a_potential_with_a_malformed_block(aiida_localhost, tmp_path):
    """The real ``success`` outputs with the block broken: exit 303 naming it, not a potential without references."""
    from aiida.common.links import LinkType

    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
    from aiida_mlip_autopipe.training.parser import PacemakerParser

    node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlip_autopipe.pacemaker')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.store()
    retrieved = orm.FolderData()
    temporary = tmp_path / 'temporary'
    temporary.mkdir()
    for path in sorted(SUCCESS.iterdir()):
        if path.name in PacemakerCalculation.RETRIEVE_TEMPORARY_LIST:
            shutil.copy(path, temporary / path.name)
        else:
            retrieved.base.repository.put_object_from_file(str(path), path.name)
    (temporary / 'output_potential.yaml').write_text(_malformed_yaml(MALFORMED['not-json']))
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    results, calc = PacemakerParser.parse_from_node(
        node, store_provenance=False, retrieved_temporary_folder=str(temporary)
    )
    assert calc.exit_status == PacemakerCalculation.exit_codes.ERROR_POTENTIAL_UNPARSABLE.status
    assert 'output_potential.yaml: metadata.reference_energy is not valid JSON' in calc.exit_message
    assert 'potential' not in results


def test_warm_start_from_a_malformed_block_is_refused_before_submission(aiida_profile, fixture_code, tmp_path):
    """``initial_potential`` with a broken block: the input validator names the node, the file and the block."""
    from ase.io import read

    from aiida_mlip_autopipe.data.potential import AcePotentialData
    from aiida_mlip_autopipe.data.training_set import TrainingSetData
    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

    yaml_path = tmp_path / 'potential.yaml'
    yaml_path.write_text(_malformed_yaml(MALFORMED['not-a-number']))
    initial = AcePotentialData.from_files(yaml_path, SUCCESS / 'output_potential.yace').store()
    frames = read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':4')
    inputs = {
        'code': fixture_code('mlip_autopipe.pacemaker'),
        'training_set': TrainingSetData.from_frames(frames).store(),
        'initial_potential': initial,
        'metadata': {'options': {'resources': {'num_machines': 1}}},
    }
    with pytest.raises(
        ValueError, match=rf'initial_potential<{initial.pk}> potential\.yaml: metadata\.reference_energy'
    ):
        instantiate_process(get_manager().get_runner(), PacemakerCalculation, **inputs)
