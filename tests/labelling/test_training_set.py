"""Calcfunctions that turn pw.x outputs into training sets: units, signs, provenance, merging."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm

from aiida_mlip_autopipe.labelling.training_set import (
    GPA_TO_EV_PER_A3,
    collect_training_set,
    frame_from_pw_outputs,
    merge_training_sets,
)
from tests.utils import fake_pw_outputs


def _outputs(structure, energy, forces, stress_gpa):
    outputs = fake_pw_outputs(structure, energy, forces, stress_gpa)
    return outputs['output_parameters'], outputs['output_trajectory']


@pytest.fixture
def si_structure(aiida_profile, si_atoms):
    return orm.StructureData(ase=si_atoms)


def test_frame_units_and_stress_sign(si_structure):
    forces = [[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]]
    # pw.x reports positive stress (pressure) for a compressed cell; ASE's sign is the opposite.
    stress = np.diag([10.0, 10.0, 10.0])
    parameters, trajectory = _outputs(si_structure, -215.5, forces, stress)
    atoms = frame_from_pw_outputs(si_structure, parameters, trajectory)
    assert atoms.get_potential_energy() == -215.5
    assert np.allclose(atoms.get_forces(), forces)
    assert np.allclose(atoms.get_stress(voigt=False), -stress * GPA_TO_EV_PER_A3)
    assert atoms.info['structure_uuid'] == si_structure.uuid
    assert atoms.info['source_uuid'] == trajectory.uuid


def test_frame_requires_forces(si_structure):
    trajectory = orm.TrajectoryData()
    trajectory.set_array('stress', np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match='no forces'):
        frame_from_pw_outputs(si_structure, orm.Dict({'energy': -1.0}), trajectory)


def test_frame_rejects_wrong_shape(si_structure):
    parameters, trajectory = _outputs(si_structure, -1.0, np.zeros((2, 3)), np.zeros((3, 3)))
    trajectory.set_array('forces', np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match='do not match 2 atoms'):
        frame_from_pw_outputs(si_structure, parameters, trajectory)


def test_force_weights_attribute_reaches_the_frame(aiida_profile, si_atoms):
    structure = orm.StructureData(ase=si_atoms)
    structure.base.attributes.set('force_weights', [1.0, 0.1])
    parameters, trajectory = _outputs(structure, -1.0, np.zeros((2, 3)), np.zeros((3, 3)))
    atoms = frame_from_pw_outputs(structure, parameters, trajectory)
    assert atoms.arrays['force_weight'].tolist() == [1.0, 0.1]


def test_collect_links_every_input(si_structure):
    parameters, trajectory = _outputs(si_structure, -215.5, np.zeros((2, 3)), np.zeros((3, 3)))
    result, node = collect_training_set.run_get_node(
        structure_0=si_structure, parameters_0=parameters, trajectory_0=trajectory
    )
    assert result.num_frames == 1
    incoming = {link.link_label for link in node.base.links.get_incoming().all()}
    assert {'structure_0', 'parameters_0', 'trajectory_0'} <= incoming
    assert result.source_uuids == [trajectory.uuid]


def test_collect_rejects_incomplete_triples(si_structure):
    parameters, _ = _outputs(si_structure, -1.0, np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match='lacks'):
        collect_training_set(structure_0=si_structure, parameters_0=parameters)


def test_merge_keeps_each_source_once(si_structure):
    parameters, trajectory = _outputs(si_structure, -215.5, np.zeros((2, 3)), np.zeros((3, 3)))
    first = collect_training_set(structure_0=si_structure, parameters_0=parameters, trajectory_0=trajectory)
    parameters2, trajectory2 = _outputs(si_structure, -215.0, np.ones((2, 3)), np.zeros((3, 3)))
    second = collect_training_set(structure_0=si_structure, parameters_0=parameters2, trajectory_0=trajectory2)
    merged = merge_training_sets(a=first, b=second, c=first)
    assert merged.num_frames == 2
    assert merged.source_uuids == [trajectory.uuid, trajectory2.uuid]
