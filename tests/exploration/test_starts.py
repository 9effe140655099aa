"""MD start cells of every kind (issue 16): bulk supercells, padded slabs and clusters, shares, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height, structure_kind, vacuum_gaps
from aiida_mlip_autopipe.candidates.surfaces import atomic_planes
from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.exploration.starts import build_md_structures, md_start_cells, starts_per_kind

SLAB = {'miller': [1, 0, 0], 'layers': 4, 'vacuum': 5.0}


def _config(target, **exploration):
    return parse_config({'target': target, 'exploration': exploration, 'training': {'cutoff': 5.0}})


def test_bulk_only_starts_are_the_supercells_they_were():
    cells = md_start_cells(_config({'elements': ['Si'], 'prototype': 'diamond'}, supercell_atoms=16), seed=3)
    ((name, atoms, kind),) = cells
    assert (name, kind, len(atoms)) == ('bulk-16', 'bulk', 16)


def test_bulk_starts_run_at_every_volume_strain_and_say_so(aiida_profile):
    """Issue 13: NVT at the target lattice alone labels one volume; strained starts span the E-V range."""
    strains = [-0.02, 0.0, 0.02]
    target = {'elements': ['Si'], 'prototype': 'diamond', 'lattice_constant': 5.4}
    plain = md_start_cells(_config(target, supercell_atoms=16), seed=3)
    cells = md_start_cells(_config(target, supercell_atoms=16, volume_strains=strains), seed=3)
    assert [name for name, _, _ in cells] == ['bulk-16-strain-0.020', 'bulk-16', 'bulk-16-strain+0.020']
    assert {kind for _, _, kind in cells} == {'bulk'}
    reference = plain[0][1]
    for (_, atoms, _), strain in zip(cells, strains, strict=True):
        assert atoms.get_volume() == pytest.approx(reference.get_volume() * (1 + strain) ** 3)
        shift = atoms.get_scaled_positions(wrap=False) - reference.get_scaled_positions(wrap=False)
        assert np.allclose(shift - np.round(shift), 0.0, atol=1e-9)
    # The unstrained start is the one a run without strains has: the same MD, the same seed.
    assert np.array_equal(cells[1][1].positions, reference.positions)
    config = _config(target, supercell_atoms=16, volume_strains=strains, structures_per_generation=2)
    assert len(md_start_cells(config, seed=3)) == 6
    outputs = build_md_structures(config=orm.Dict(config.to_dict()), seed=orm.Int(3))['structures']
    assert [outputs[key].base.attributes.get('volume_strain') for key in sorted(outputs)] == strains * 2
    assert {outputs[key].base.attributes.get('origin') for key in outputs} == {'md-start-bulk'}


def test_volume_strains_leave_slabs_and_clusters_alone():
    target = {'elements': ['Si'], 'prototype': 'diamond', 'surfaces': [SLAB]}
    cells = md_start_cells(_config(target, supercell_atoms=8, volume_strains=[-0.01, 0.01]), seed=0)
    assert [kind for _, _, kind in cells] == ['bulk', 'bulk', 'surface']
    assert cells[2][0] == 'surface-100-8'


def test_slab_start_is_a_padded_periodic_box_of_about_the_md_size():
    target = {'elements': ['Si'], 'prototype': 'diamond', 'surfaces': [SLAB], 'shares': {'surface': 1.0}}
    ((name, atoms, kind),) = md_start_cells(_config(target, supercell_atoms=16), seed=0)
    assert kind == 'surface' and structure_kind(atoms) == 'surface'
    assert atoms.pbc.all()  # LAMMPS runs it with boundary p p p
    assert len(atoms) == 16 and len(atoms_planes := atomic_planes(atoms)) == 4
    assert all(len(p) == 4 for p in atoms_planes)
    # Images across the vacuum more than a cutoff (5 Å) plus 3 Å apart: they never interact; and the box
    # is as tall as the candidates' (one k-point along the normal at the labelling's spacing).
    assert vacuum_gaps(atoms)[2] >= 10.0
    assert atoms.cell.array[2, 2] == pytest.approx(single_kpoint_height(0.3))
    assert name == 'surface-100-16'


def test_small_vacuum_is_widened_for_md():
    target = {
        'elements': ['Si'],
        'prototype': 'diamond',
        'surfaces': [{**SLAB, 'vacuum': 3.0}],
        'shares': {'surface': 1.0},
    }
    config = _config(target, supercell_atoms=8)
    config.dft.kpoints_distance = 1.5  # a box of 4.2 Å would do for the k-points: the MD vacuum decides
    ((_, atoms, _),) = md_start_cells(config, seed=0)
    assert vacuum_gaps(atoms)[2] == pytest.approx(2 * (5.0 / 2 + 1.5))


def test_molecule_start_is_the_largest_cluster_in_a_padded_box():
    target = {'elements': ['H', 'O'], 'molecule': {'name': 'H2O', 'cluster_sizes': [1, 4], 'vacuum': 4.0}}
    ((name, atoms, kind),) = md_start_cells(_config(target), seed=1)
    assert (name, kind) == ('cluster-H2O-4', 'molecule')
    assert atoms.pbc.all() and len(atoms) == 12
    assert vacuum_gaps(atoms).min() >= 8.0 - 1e-9
    again = md_start_cells(_config(target), seed=1)[0][1]
    other = md_start_cells(_config(target), seed=2)[0][1]
    assert np.array_equal(again.positions, atoms.positions)
    assert not np.allclose(other.positions, atoms.positions)


def test_starts_per_kind_follow_the_shares_at_least_one_each():
    assert starts_per_kind(['bulk', 'surface'], None, 1) == {'bulk': 1, 'surface': 1}
    assert starts_per_kind(['bulk', 'surface'], {'bulk': 0.25, 'surface': 0.75}, 4) == {'bulk': 1, 'surface': 3}
    assert starts_per_kind(['bulk'], None, 3) == {'bulk': 3}
    target = {'elements': ['Si'], 'prototype': 'diamond', 'surfaces': [SLAB, {**SLAB, 'miller': [1, 1, 1]}]}
    cells = md_start_cells(_config(target, structures_per_generation=4), seed=0)
    assert [kind for _, _, kind in cells] == ['bulk', 'bulk', 'surface', 'surface']
    assert [name.split('-')[1] for name, _, kind in cells if kind == 'surface'] == ['100', '111']


def test_calcfunction_records_kind_and_periodicity(aiida_profile):
    target = {'elements': ['Si'], 'prototype': 'diamond', 'surfaces': [SLAB]}
    config = _config(target, supercell_atoms=8)
    outputs = build_md_structures(config=orm.Dict(config.to_dict()), seed=orm.Int(0))['structures']
    assert sorted(outputs) == ['md0000', 'md0001']
    bulk_node, slab_node = outputs['md0000'], outputs['md0001']
    assert bulk_node.base.attributes.get('kind') == 'bulk'
    assert slab_node.base.attributes.get('kind') == 'surface'
    assert slab_node.base.attributes.get('origin') == 'md-start-surface'
    assert slab_node.pbc == (True, True, True)


@pytest.mark.integration
def test_real_md_on_a_slab_and_its_frames_cut_as_slabs(codes_from_setup, python_code, si_tiny_lammps_potential):
    """The tiny bulk-Si potential on a Si(100) slab start at 900 K: LAMMPS runs the padded box, the uncertain
    surface frames come back as slab cut-outs (pbc True, True, False) with both faces."""
    from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation
    from aiida_mlip_autopipe.exploration.extract_job import ExtractionCalculation

    if 'lammps' not in codes_from_setup:
        pytest.skip('mlip-autopipe-lammps is not installed')
    target = {
        'elements': ['Si'],
        'prototype': 'diamond',
        'lattice_constant': 5.43,
        'surfaces': [{**SLAB, 'layers': 6}],
        'shares': {'surface': 1.0},
    }
    config = parse_config(
        {
            'target': target,
            'training': {'cutoff': 5.0},
            'exploration': {'supercell_atoms': 24, 'n_steps': 300, 'gamma_lower': 1.5, 'gamma_upper': 50.0},
        }
    )
    start = build_md_structures(config=orm.Dict(config.to_dict()), seed=orm.Int(0))['structures']['md0000']
    builder = LammpsCalculation.get_builder()
    builder.code = codes_from_setup['lammps']
    builder.structure = start
    builder.potential = si_tiny_lammps_potential
    builder.settings = orm.Dict(config.exploration.md_settings(900.0, seed=5))
    builder.metadata.options.max_wallclock_seconds = 600
    _, md = run_get_node(builder)
    assert md.exit_status == 0, md.exit_message
    assert 'boundary        p p p' in md.base.repository.get_object_content('input.lammps')
    summary = md.outputs.summary.get_dict()
    assert summary['steps_run'] == 300 and summary['max_gamma'] > 1.5  # a bulk potential is unsure at a surface
    frames = md.outputs.uncertain_frames
    settings = orm.Dict(config.exploration.extraction.settings(5.0, 1.5, 0.1, generation=1))
    results, extraction = run_get_node(
        ExtractionCalculation, code=python_code, trajectories={'slab': frames}, settings=settings, seed=orm.Int(0)
    )
    assert extraction.is_finished_ok, extraction.exit_message
    candidates = list(results['structures'].values())
    assert candidates
    for candidate in candidates:
        assert structure_kind(candidate.get_ase()) == 'surface'
        z = np.asarray([site.position[2] for site in candidate.sites])
        assert np.ptp(z) > 5.0  # the slab's full thickness (6 layers, 6.8 Å), not a 2R box
        assert candidate.cell[2][2] - np.ptp(z) > 8.0  # with its vacuum
