"""pw.x settings of slabs and molecules (issue 16): Γ and Martyna-Tuckerman for molecules, one k along a slab normal.

The unit tests check what :func:`structure_settings` asks and what aiida-quantumespresso's k-point
mesh gives; the integration tests label a water molecule and a Si(100) slab with real pw.x.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.candidates.molecules import box, molecule_from_name
from aiida_mlip_autopipe.candidates.surfaces import build_slab, conventional_cell
from aiida_mlip_autopipe.labelling.pw_inputs import structure_settings

TEMPLATE = {'CONTROL': {'calculation': 'scf', 'tprnfor': True, 'tstress': True}, 'SYSTEM': {'ecutwfc': 30.0}}


def _water(vacuum=4.0):
    return orm.StructureData(ase=box(molecule_from_name('H2O'), vacuum))


def _si_slab(vacuum=5.0, layers=4, min_height=0.0):
    primitive = bulk('Si', 'diamond', a=5.40)
    slab = build_slab(
        primitive, conventional_cell('diamond', primitive), (1, 0, 0), layers, vacuum, min_height=min_height
    )
    return orm.StructureData(ase=slab)


def test_bulk_keeps_the_template():
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.4))
    parameters, settings, mesh = structure_settings(structure, TEMPLATE, {'CMDLINE': ['-nk', '1']})
    assert parameters == TEMPLATE and settings == {'CMDLINE': ['-nk', '1']} and mesh is None


def test_molecule_gets_gamma_mt_and_no_stress():
    parameters, settings, mesh = structure_settings(_water(), TEMPLATE)
    assert parameters['CONTROL']['tstress'] is False and parameters['CONTROL']['tprnfor'] is True
    assert parameters['SYSTEM'] == {'ecutwfc': 30.0, 'assume_isolated': 'mt'}
    assert settings == {'GAMMA_ONLY': True} and mesh == [1, 1, 1]
    assert TEMPLATE['CONTROL']['tstress'] is True  # the template itself is not touched
    own = {**TEMPLATE, 'SYSTEM': {'assume_isolated': 'makov-payne'}}
    assert structure_settings(_water(), own)[0]['SYSTEM']['assume_isolated'] == 'makov-payne'


def test_slab_has_no_stress_no_isolated_correction_and_one_kpoint_along_the_normal():
    slab = _si_slab(vacuum=3.0)  # a short box: the spacing alone would give two points along the normal
    parameters, settings, mesh = structure_settings(slab, TEMPLATE, kpoints_distance=0.3)
    assert parameters['CONTROL']['tstress'] is False
    assert 'assume_isolated' not in parameters['SYSTEM'] and settings == {}
    assert mesh == [6, 6, 1]  # 2π / (3.82 Å × 0.3 Å⁻¹) = 5.5 in the plane
    assert structure_settings(slab, TEMPLATE)[2] is None  # without a spacing: kpoints_distance decides


@pytest.mark.parametrize('vacuum', [3.0, 5.0, 12.0])
def test_the_explicit_slab_mesh_is_the_spacing_mesh_of_a_tall_box(aiida_profile, vacuum):
    """One point along the normal: explicitly (surface_mesh) and, in a box of single_kpoint_height, from the spacing."""
    from aiida_quantumespresso.calculations.functions.create_kpoints_from_distance import (
        create_kpoints_from_distance,
    )

    from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height
    from aiida_mlip_autopipe.labelling.pw_inputs import surface_mesh

    slab = _si_slab(vacuum=vacuum, min_height=single_kpoint_height(0.3))
    mesh = create_kpoints_from_distance.run(slab, orm.Float(0.3), orm.Bool(False)).get_kpoints_mesh()[0]
    assert mesh == surface_mesh(slab, 0.3) and mesh[2] == 1
    short = _si_slab(vacuum=vacuum)
    if vacuum <= 5.0:  # a box shorter than 2π/0.3 = 21 Å gets two or more points from the spacing alone
        assert create_kpoints_from_distance.run(short, orm.Float(0.3), orm.Bool(False)).get_kpoints_mesh()[0][2] > 1
    assert surface_mesh(short, 0.3)[2] == 1
    molecule = create_kpoints_from_distance.run(_water(3.0), orm.Float(0.3), orm.Bool(False))
    assert molecule.get_kpoints_mesh()[0] == [1, 1, 1]


def _pw_inputs(pw_code, structure, family, ecutwfc, ecutrho):
    """PwBaseWorkChain inputs from the labelling template, adapted as a label of ``structure`` is."""
    from aiida_mlip_autopipe.labelling.config import DFTConfig
    from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

    dft = DFTConfig(pseudo_family=family, ecutwfc=ecutwfc, ecutrho=ecutrho, kpoints_distance=0.4)
    elements = sorted({kind.symbol for kind in structure.kinds})
    builder = LabellingWorkChain.get_builder_from_protocol(pw_code, {'s': structure}, dft=dft, elements=elements)
    template = builder.dft
    parameters, settings, mesh = structure_settings(
        structure, template['pw']['parameters'].get_dict(), kpoints_distance=template['kpoints_distance'].value
    )
    parameters['ELECTRONS']['conv_thr'] = 1e-8 * len(structure.sites)
    inputs = {
        'pw': {
            'code': template['pw']['code'],
            'structure': structure,
            'pseudos': {kind.name: template['pw']['pseudos'][kind.symbol] for kind in structure.kinds},
            'parameters': orm.Dict(parameters),
            'metadata': template['pw']['metadata'],
        },
    }
    if settings:
        inputs['pw']['settings'] = orm.Dict(settings)
    if mesh is not None:
        kpoints = orm.KpointsData()
        kpoints.set_kpoints_mesh(mesh)
        inputs['kpoints'] = kpoints
    else:
        inputs['kpoints_distance'] = template['kpoints_distance']
    return inputs


@pytest.mark.integration
def test_real_pw_labels_a_water_molecule(pw_code, pseudo_families):
    """Γ tricks and Martyna-Tuckerman in a 4 Å vacuum box: forces, no stress, a bound molecule (20-40 s)."""
    from aiida.plugins import WorkflowFactory

    from aiida_mlip_autopipe.labelling.training_set import frame_from_pw_outputs

    structure = _water(4.0)
    inputs = _pw_inputs(pw_code, structure, 'MLIPAutoPipe/Debian/PBE', 46.0, 368.0)
    results, node = run_get_node(WorkflowFactory('quantumespresso.pw.base'), **inputs)
    assert node.is_finished_ok, node.exit_message
    calc = node.called[-1]
    written = calc.base.repository.get_object_content('aiida.in')
    assert 'K_POINTS gamma' in written and "assume_isolated = 'mt'" in written
    assert 'tstress = .false.' in written
    stdout = calc.outputs.retrieved.base.repository.get_object_content('aiida.out')
    assert 'gamma-point specific algorithms are used' in stdout
    assert 'Martyna-Tuckerman' in stdout
    frame = frame_from_pw_outputs(structure, results['output_parameters'], results['output_trajectory'])
    assert not frame.pbc.any()
    assert 'stress' not in frame.calc.results
    forces = frame.get_forces()
    assert np.abs(forces.sum(axis=0)).max() < 0.05  # no net force on an isolated molecule
    # ASE's g2 geometry is near the PBE minimum: small forces, O-H pulled or pushed along the bonds.
    assert np.abs(forces).max() < 1.0
    atomisation = frame.get_potential_energy()
    assert atomisation < -400  # PAW total energy of H2O in eV (about -466 eV with these UPFs)


@pytest.mark.integration
def test_real_pw_labels_a_si_slab(pw_code, pseudo_families):
    """A 4-layer Si(100) slab with 5 Å vacuum per side: one k-point along the normal, no stress (10-30 s)."""
    from aiida.plugins import WorkflowFactory

    from aiida_mlip_autopipe.labelling.training_set import frame_from_pw_outputs

    structure = _si_slab(vacuum=5.0)  # a 15 Å box: the spacing alone would put 2 k-points along the normal
    inputs = _pw_inputs(pw_code, structure, 'MLIPAutoPipe/Debian/LDA', 20.0, 80.0)
    results, node = run_get_node(WorkflowFactory('quantumespresso.pw.base'), **inputs)
    assert node.is_finished_ok, node.exit_message
    calc = node.called[-1]
    mesh, _ = calc.inputs.kpoints.get_kpoints_mesh()
    assert mesh[2] == 1 and mesh[0] == mesh[1] > 1
    assert 'tstress = .false.' in calc.base.repository.get_object_content('aiida.in')
    frame = frame_from_pw_outputs(structure, results['output_parameters'], results['output_trajectory'])
    assert 'stress' not in frame.calc.results
    forces = frame.get_forces()
    # The ideal bulk-terminated slab: in-plane forces vanish by symmetry, the surface atoms are pulled in.
    assert np.abs(forces[:, :2]).max() < 1e-3
    z = structure.get_ase().positions[:, 2]
    top, bottom = np.argmax(z), np.argmin(z)
    assert forces[top, 2] < -0.05 and forces[bottom, 2] > 0.05
    energy_per_atom = frame.get_potential_energy() / len(frame)
    assert -107.8 < energy_per_atom < -106.5  # above bulk Si (-107.8 eV/atom, LDA): the surface costs energy
