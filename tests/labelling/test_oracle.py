"""The benchmark oracle (EMT): pw.x-shaped outputs, units and signs, failures, and its wiring.

The oracle is for method benchmarks only; these tests also pin that it is never on by
default and that a run with it needs neither pw.x nor pseudopotentials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlip_autopipe.config import ConfigError, load_config, parse_config
from aiida_mlip_autopipe.labelling.config import ORACLES, BenchmarkConfig, DFTConfig, check_oracle
from aiida_mlip_autopipe.labelling.oracle import label_with_oracle
from aiida_mlip_autopipe.labelling.training_set import collect_training_set
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from tests.utils import instantiate

ROOT = Path(__file__).parents[2]


@pytest.fixture
def al_atoms():
    from ase.build import bulk

    atoms = bulk('Al', 'fcc', a=4.00, cubic=True)  # compressed (EMT a0 ~ 4.05 Å)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture
def al_structure(aiida_profile, al_atoms):
    return orm.StructureData(ase=al_atoms)


def _emt(atoms):
    from ase.calculators.emt import EMT

    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def test_outputs_have_the_shape_of_pw(al_structure, al_atoms):
    results, node = run_get_node(label_with_oracle, structure=al_structure, calculator=orm.Str('emt'))
    assert node.is_finished_ok
    energy, forces, stress = _emt(al_atoms)
    parameters = results['output_parameters'].get_dict()
    assert parameters['energy'] == pytest.approx(energy)
    assert parameters['oracle'] == 'emt' and parameters['energy_units'] == 'eV'
    trajectory = results['output_trajectory']
    assert trajectory.get_array('forces').shape == (1, 4, 3)
    np.testing.assert_allclose(trajectory.get_array('forces')[0], forces)
    # pw.x convention: GPa, positive when compressed; this cell is compressed.
    pw_stress = trajectory.get_array('stress')[0]
    np.testing.assert_allclose(pw_stress, -stress * 160.21766208)
    assert np.trace(pw_stress) > 0


def test_training_set_gets_ase_units_back(al_structure, al_atoms):
    """The pw.x path's unit and sign conversion, applied to oracle outputs, returns ASE's numbers."""
    results, _ = run_get_node(label_with_oracle, structure=al_structure, calculator=orm.Str('emt'))
    training_set = collect_training_set(
        structure_0=al_structure,
        parameters_0=results['output_parameters'],
        trajectory_0=results['output_trajectory'],
    )
    (frame,) = training_set.get_frames()
    energy, forces, stress = _emt(al_atoms)
    assert frame.get_potential_energy() == pytest.approx(energy)
    np.testing.assert_allclose(frame.get_forces(), forces, atol=1e-12)
    np.testing.assert_allclose(frame.get_stress(voigt=False), stress, atol=1e-12)


def test_unsupported_chemistry_is_exit_code_201(aiida_profile, si_atoms):
    _, node = run_get_node(label_with_oracle, structure=orm.StructureData(ase=si_atoms), calculator=orm.Str('emt'))
    assert node.exit_status == 201
    assert "no parameters for ['Si']" in node.exit_message
    assert 'output_parameters' not in node.outputs


def test_non_finite_result_is_exit_code_401(aiida_profile):
    from ase import Atoms

    overlapping = Atoms('Al2', positions=[[1, 1, 1], [1, 1, 1]], cell=[5, 5, 5], pbc=True)
    _, node = run_get_node(label_with_oracle, structure=orm.StructureData(ase=overlapping), calculator=orm.Str('emt'))
    assert node.exit_status == 401


def test_check_oracle():
    assert check_oracle('emt', ['Cu', 'Au']) is None
    assert 'unknown oracle' in check_oracle('lj', ['Al'])
    assert set(ORACLES['emt']) == {'Al', 'Cu', 'Ni', 'Ag', 'Au', 'Pd', 'Pt'}


def test_oracle_is_never_the_default():
    assert BenchmarkConfig().oracle is None
    assert 'oracle' not in DFTConfig.model_fields  # never one key among the pw.x settings
    for path in (ROOT / 'examples').rglob('*.yaml'):
        config = load_config(path)
        assert config.benchmark.oracle is None, f'{path} uses the benchmark oracle'


def test_config_rejects_oracle_without_parameters():
    with pytest.raises(
        ConfigError, match=r"benchmark.oracle \(got 'emt'\): oracle 'emt' has no parameters for \['Si'\]"
    ):
        parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'benchmark': {'oracle': 'emt'}})
    with pytest.raises(ConfigError, match='benchmark.oracle'):
        parse_config({'target': {'elements': ['Al'], 'prototype': 'fcc'}, 'benchmark': {'oracle': 'lj'}})


def test_the_old_place_of_the_oracle_says_where_it_went():
    with pytest.raises(ConfigError) as info:
        parse_config({'target': {'elements': ['Al'], 'prototype': 'fcc'}, 'dft': {'oracle': 'emt'}})
    [(field, _, message)] = info.value.problems
    assert field == 'dft.oracle'
    assert 'moved to benchmark.oracle' in message and 'benchmark: {oracle: emt}' in message


def test_labelling_builder_with_oracle_needs_no_pw(aiida_profile, al_structure):
    builder = LabellingWorkChain.get_builder_from_protocol(None, {'a': al_structure}, oracle='emt')
    assert builder.oracle.value == 'emt'
    inputs = builder._inputs(prune=True)
    assert 'dft' not in inputs
    instantiate(LabellingWorkChain, **inputs)  # passes the validator


def test_labelling_validator(aiida_profile, al_structure, si_atoms):
    with pytest.raises(ValueError, match='give the `dft` inputs'):
        instantiate(LabellingWorkChain, structures={'a': al_structure})
    with pytest.raises(ValueError, match=r"oracle: oracle 'emt' has no parameters for \['Si'\]"):
        instantiate(LabellingWorkChain, structures={'s': orm.StructureData(ase=si_atoms)}, oracle='emt')


def test_labelling_with_oracle_keeps_the_failure_budget(aiida_profile, al_atoms):
    """A real run: one label fails (non-finite), it is recorded, the rest form the training set."""
    from ase import Atoms

    structures = {f's{i}': orm.StructureData(ase=al_atoms.copy()) for i in range(3)}
    bad = Atoms('Al2', positions=[[1, 1, 1], [1, 1, 1]], cell=[5, 5, 5], pbc=True)
    structures['x'] = orm.StructureData(ase=bad)
    # min_distance 0 turns off the overlap check before labelling, so the oracle itself meets the bad cell.
    results, node = run_get_node(
        LabellingWorkChain, structures=structures, oracle='emt', failure_budget=0.25, min_distance=0.0
    )
    assert node.is_finished_ok, node.exit_message
    assert results['training_set'].num_frames == 3
    failures = results['failures'].get_dict()
    assert failures['num_failed'] == 1
    assert failures['failed'][0]['key'] == 'x' and failures['failed'][0]['exit_status'] == 401
    called = {link.link_label for link in node.base.links.get_outgoing().all()}
    assert {'label_s0', 'label_s1', 'label_s2', 'label_x', 'collect_training_set'} <= called
    # Over budget: the same failure with a budget of zero fails the work chain with 401.
    _, node = run_get_node(
        LabellingWorkChain, structures=structures, oracle='emt', failure_budget=0.0, min_distance=0.0
    )
    assert node.exit_status == LabellingWorkChain.exit_codes.ERROR_FAILURE_BUDGET_EXCEEDED.status


def test_active_learning_builder_with_oracle(aiida_profile, aiida_localhost, codes_from_setup):
    """No pw code and a pseudo family that does not exist: the oracle run needs neither."""
    from aiida_mlip_autopipe.config import check_against_profile
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    config = load_config(ROOT / 'tests' / 'loop' / 'configs' / 'si_tiny.yaml')
    data = config.model_dump(mode='json', exclude_unset=True)
    data['target'] = {'elements': ['Al'], 'prototype': 'fcc', 'lattice_constant': 4.05, 'supercell_atoms': [4]}
    data['dft'] = {'pseudo_family': 'No/Such/Family', 'code': 'no-pw@nowhere'}
    data['benchmark'] = {'oracle': 'emt'}
    config = parse_config(data)
    codes = {key: value for key, value in codes_from_setup.items() if key != 'pw'}
    builder = ActiveLearningWorkChain.get_builder_from_protocol(config, codes=codes, protocol='fast')
    # The oracle comes from the config alone: the work chain exposes no port for it (issue 14).
    assert 'oracle' not in ActiveLearningWorkChain.spec().inputs['labelling']
    assert builder.config.get_dict()['benchmark']['oracle'] == 'emt'
    assert 'dft' not in builder._inputs(prune=True)['labelling']
    assert not [p for p in check_against_profile(config) if p[0].startswith('dft.')]
