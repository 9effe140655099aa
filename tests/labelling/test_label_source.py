"""Every label says where it came from: on each frame, on the training set, through merges and exports, on the fit.

The DFT case is a ``PwCalculation`` node shaped as the engine leaves one (code, parameters,
k-points, pseudopotentials of a family; called by a ``PwBaseWorkChain`` with ``kpoints_distance``)
with pw.x-shaped outputs, so it runs without Quantum ESPRESSO; ``test_real_pw_label_carries_its_source``
checks the same on a real pw.x label where pw.x is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from ase.build import bulk
from plumpy import ProcessState

from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.labelling.oracle import label_with_oracle
from aiida_mlip_autopipe.labelling.training_set import collect_training_set, merge_training_sets
from tests.utils import fake_pw_outputs

FIXTURES = Path(__file__).parents[1] / 'fixtures'


def _pw_label(structure: orm.StructureData, code: orm.AbstractCode, family: str, ecutwfc: float = 30.0) -> dict:
    """``structure_0``/``parameters_0``/``trajectory_0`` of a PwCalculation node called by a PwBaseWorkChain node."""
    from aiida_pseudo.groups.family import PseudoPotentialFamily

    family_group = orm.load_group(family)
    assert isinstance(family_group, PseudoPotentialFamily)
    caller = orm.WorkflowNode()
    caller.set_process_label('PwBaseWorkChain')
    caller.set_process_state(ProcessState.FINISHED)
    distance = orm.Float(0.3).store()
    caller.base.links.add_incoming(distance, link_type=LinkType.INPUT_WORK, link_label='kpoints_distance')
    caller.store()
    calculation = orm.CalcJobNode(computer=code.computer, process_type='aiida.calculations:quantumespresso.pw')
    calculation.set_option('resources', {'num_machines': 1})
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([6, 6, 6])
    parameters = {
        'SYSTEM': {'ecutwfc': ecutwfc, 'ecutrho': 4 * ecutwfc, 'occupations': 'smearing', 'smearing': 'cold'},
    }
    parameters['SYSTEM']['degauss'] = 0.02
    inputs = {
        'code': code,
        'parameters': orm.Dict(parameters),
        'kpoints': kpoints,
        'structure': structure,
        'pseudos__Si': family_group.get_pseudo('Si'),
    }
    for label, node in inputs.items():
        if not node.is_stored:
            node.store()
        calculation.base.links.add_incoming(node, link_type=LinkType.INPUT_CALC, link_label=label)
    calculation.base.links.add_incoming(caller, link_type=LinkType.CALL_CALC, link_label='iteration_01')
    calculation.set_process_state(ProcessState.FINISHED)
    calculation.set_exit_status(0)
    calculation.store()
    outputs = fake_pw_outputs(structure, energy=-215.0)
    outputs['output_parameters'] = orm.Dict({'energy': -215.0, 'dft_exchange_correlation': 'PZ'})
    for label, node in outputs.items():
        node.base.links.add_incoming(calculation, link_type=LinkType.CREATE, link_label=label)
        node.store()
    calculation.seal()
    return {'parameters': outputs['output_parameters'], 'trajectory': outputs['output_trajectory']}


@pytest.fixture
def pw_set(stand_in_codes, stand_in_families):
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)).store()
    label = _pw_label(structure, stand_in_codes['pw'], 'MLIPAutoPipe/Debian/LDA')
    return collect_training_set(
        structure_0=structure, parameters_0=label['parameters'], trajectory_0=label['trajectory']
    ), stand_in_codes['pw']


@pytest.fixture
def oracle_set(aiida_profile):
    labels = {}
    for index, a in enumerate((4.00, 4.05, 4.10)):
        structure = orm.StructureData(ase=bulk('Al', 'fcc', a=a)).store()
        outputs = label_with_oracle(structure=structure, calculator=orm.Str('emt'))
        labels[f'structure_{index}'] = structure
        labels[f'parameters_{index}'] = outputs['output_parameters']
        labels[f'trajectory_{index}'] = outputs['output_trajectory']
    return collect_training_set(**labels)


def test_dft_label_carries_code_and_settings(pw_set):
    training_set, code = pw_set
    assert training_set.label_sources == {'dft:pw.x': 1}
    assert training_set.label_description == 'DFT (pw.x)'
    [frame] = training_set.get_frames()
    assert frame.info['label_source'] == 'dft:pw.x'
    assert frame.info['label_code'] == code.full_label
    assert frame.info['label_code_uuid'] == code.uuid
    settings = json.loads(frame.info['label_settings'])
    assert settings == {
        'functional': 'PZ',
        'pseudo_family': 'MLIPAutoPipe/Debian/LDA',
        'ecutwfc': 30.0,
        'ecutrho': 120.0,
        'occupations': 'smearing',
        'smearing': 'cold',
        'degauss': 0.02,
        'nspin': 1,
        'kpoints_mesh': [6, 6, 6],
        'kpoints_distance': 0.3,
    }
    [origin] = training_set.label_origins
    assert origin['label_code'] == code.full_label and origin['frames'] == 1
    assert origin['label_settings']['pseudo_family'] == 'MLIPAutoPipe/Debian/LDA'


def test_oracle_label_says_it_is_not_dft(oracle_set):
    assert oracle_set.label_sources == {'oracle:emt': 3}
    assert 'NOT DFT' in oracle_set.label_description
    for frame in oracle_set.get_frames():
        assert frame.info['label_source'] == 'oracle:emt'
        assert frame.info['label_code'].startswith('ase.calculators.emt.EMT (ASE ')


def test_outputs_no_code_made_are_unknown_with_the_reason(aiida_profile):
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)).store()
    outputs = fake_pw_outputs(structure)
    for node in outputs.values():
        node.store()
    training_set = collect_training_set(
        structure_0=structure, parameters_0=outputs['output_parameters'], trajectory_0=outputs['output_trajectory']
    )
    assert training_set.label_sources == {'unknown': 1}
    assert training_set.label_description == 'unknown source'
    assert 'not created by a calculation with a code' in training_set.label_origins[0]['label_settings']['why']


def test_merge_and_exports_keep_the_sources(pw_set, oracle_set, tmp_path):
    training_set, _ = pw_set
    merged = merge_training_sets(a=training_set, b=oracle_set)
    assert merged.label_sources == {'dft:pw.x': 1, 'oracle:emt': 3}
    assert merged.label_description == '3 EMT oracle (benchmark, NOT DFT) + 1 DFT (pw.x)'
    assert {o['label_source'] for o in merged.label_origins} == {'dft:pw.x', 'oracle:emt'}

    path = tmp_path / 'merged.extxyz'
    merged.write_extxyz(str(path))
    assert TrainingSetData.from_extxyz(str(path)).label_sources == merged.label_sources
    frame = merged.to_dataframe()
    assert sorted(frame['label_source']) == ['dft:pw.x', 'oracle:emt', 'oracle:emt', 'oracle:emt']
    back = TrainingSetData.from_dataframe(frame)
    assert back.label_sources == merged.label_sources
    assert back.label_origins == merged.label_origins


def test_imported_frames_count_as_unknown(aiida_profile):
    from ase.io import read

    imported = TrainingSetData.from_frames(read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':3'))
    assert imported.label_sources == {'unknown': 3}
    assert imported.label_origins == []


def test_the_fitted_potential_carries_the_sources_of_its_training_set(oracle_set, aiida_localhost):
    """The parser copies the training set's sources onto the potential (a real pacemaker output, ``success``)."""
    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
    from aiida_mlip_autopipe.training.parser import PacemakerParser
    from tests.stage_children import parsed_child

    node = parsed_child(
        'mlip_autopipe.pacemaker',
        PacemakerCalculation,
        PacemakerParser,
        FIXTURES / 'pacemaker' / 'success',
        aiida_localhost,
        inputs={'training_set': oracle_set},
    )
    assert node.is_finished_ok
    potential = node.outputs.potential
    assert potential.label_sources == {'oracle:emt': 3}
    assert 'NOT DFT' in potential.label_description
    assert potential.label_origins == oracle_set.label_origins
    assert node.outputs.metrics['label_sources'] == {'oracle:emt': 3}


@pytest.mark.integration
def test_real_pw_label_carries_its_source(pw_code, pseudo_families):
    """One real pw.x SCF through LabellingWorkChain: its frame names pw.x, the code and the family."""
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.labelling.config import DFTConfig
    from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

    structures = {'si': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))}
    builder = LabellingWorkChain.get_builder_from_protocol(
        pw_code, structures, dft=DFTConfig(kpoints_distance=0.5, ecutwfc=12.0, ecutrho=48.0)
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    training_set = results['training_set']
    assert training_set.label_sources == {'dft:pw.x': 1}
    [origin] = training_set.label_origins
    assert origin['label_code'] == pw_code.full_label
    assert origin['label_settings']['pseudo_family'] == 'MLIPAutoPipe/Debian/LDA'
    assert origin['label_settings']['ecutwfc'] == 12.0
    assert origin['label_settings']['kpoints_distance'] == 0.5
    assert np.isfinite(training_set.get_frames()[0].get_potential_energy())
