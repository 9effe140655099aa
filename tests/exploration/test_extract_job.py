"""``ExtractionCalculation`` run for real: candidates, their bookkeeping, provenance, determinism."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlip_autopipe.exploration.extract_job import ExtractionCalculation
from aiida_mlip_autopipe.exploration.lammps_input import MDSettings, write_data_file, write_input_script
from aiida_mlip_autopipe.exploration.lammps_output import read_dump
from aiida_mlip_autopipe.exploration.parser import frames_to_trajectory

HERE = Path(__file__).parent
HALTED = HERE.parent / 'fixtures' / 'lammps' / 'halted'
POTENTIAL = HERE.parent / 'fixtures' / 'potentials' / 'si_tiny_lammps'


def _settings(**overrides) -> orm.Dict:
    from aiida_mlip_autopipe.exploration.config import ExtractionConfig

    values = ExtractionConfig().settings(cutoff=5.0, gamma_lower=2.0, buffer_force_weight=0.1, generation=3)
    values.update(overrides)
    return orm.Dict(values)


def _frames(trajectory):
    """``(atoms, gamma, step)`` per frame of a trajectory, as the job reads it."""
    from ase import Atoms

    return [
        (Atoms(trajectory.symbols, positions=p, cell=c, pbc=True), g, s)
        for p, c, g, s in zip(
            trajectory.get_positions(),
            trajectory.get_cells(),
            trajectory.get_array('gamma'),
            trajectory.get_stepids(),
            strict=True,
        )
    ]


def _extract(code, **inputs):
    """Run the job; return its candidates by key, the summary dict and the node."""
    outputs, node = run_get_node(ExtractionCalculation, code=code, **inputs)
    assert node.is_finished_ok, node.exit_message
    return dict(outputs.get('structures', {})), outputs['summary'].get_dict(), node


@pytest.fixture
def halted_trajectory(aiida_profile):
    """The uncertain frames of the real halted run (16 Si atoms), as the parser stores them."""
    return frames_to_trajectory(read_dump(HALTED / 'gamma.dump'), ['Si'], 0.001).store()


def test_whole_frames_from_a_real_run(python_code, halted_trajectory):
    candidates, summary, node = _extract(
        python_code, trajectories={'trajectory': halted_trajectory}, settings=_settings(), seed=orm.Int(7)
    )
    assert summary['frames'] == halted_trajectory.numsteps == 19
    assert summary['environments_found'] == 19
    assert 1 <= len(candidates) <= 8
    gammas = [c.base.extras.get('max_gamma') for c in candidates.values()]
    assert gammas == sorted(gammas, reverse=True)
    assert gammas[0] == pytest.approx(halted_trajectory.get_array('max_gamma').max())
    first = candidates['candidate_000']
    attributes = first.base.attributes.all
    assert attributes['extraction_mode'] == 'whole-frame'
    assert attributes['force_weights'] == [1.0] * 16
    assert attributes['origin'] == 'gamma-extract' and attributes['generation'] == 3
    assert attributes['parent_trajectory_uuid'] == halted_trajectory.uuid
    frame = attributes['parent_frame_index']
    assert attributes['parent_step'] == int(halted_trajectory.get_stepids()[frame])
    gamma = halted_trajectory.get_array('gamma')[frame]
    assert attributes['centre_indices'] == [int(i) for i in np.argsort(-gamma) if gamma[i] >= 2.0]
    assert attributes['centre_gamma'] == pytest.approx(sorted(gamma[gamma >= 2.0], reverse=True))
    extras = first.base.extras.all
    assert extras['parent_uuid'] == halted_trajectory.uuid
    assert extras['origin'] == 'gamma-extract' and extras['generation'] == 3
    assert extras['centre_indices'] == attributes['centre_indices']
    # Provenance: the candidate was created by the job, whose input is the MD output.
    creator = first.creator
    assert creator.pk == node.pk and creator.process_label == 'ExtractionCalculation'
    assert creator.inputs.trajectories.trajectory.uuid == halted_trajectory.uuid
    # The frame's geometry is unchanged (whole frames are not cut).
    atoms = _frames(halted_trajectory)[frame][0]
    assert np.allclose(first.get_ase().get_all_distances(mic=True), atoms.get_all_distances(mic=True), atol=1e-8)
    assert any('near-duplicate' in d['decision'] for d in summary['decisions']) or len(candidates) == 8


def test_seed_determinism(python_code, halted_trajectory):
    runs = [
        _extract(python_code, trajectories={'md': halted_trajectory}, settings=_settings(), seed=orm.Int(seed))[0]
        for seed in (5, 5)
    ]
    keys = [sorted(r) for r in runs]
    assert keys[0] == keys[1]
    for key in keys[0]:
        a, b = runs[0][key], runs[1][key]
        assert np.array_equal(a.get_ase().positions, b.get_ase().positions)
        assert a.base.attributes.get('parent_frame_index') == b.base.attributes.get('parent_frame_index')


def test_core_radius_from_the_potential(python_code, halted_trajectory, si_tiny_lammps_potential):
    settings = _settings()
    values = settings.get_dict()
    values['core_radius'] = None
    trajectories = {'md': halted_trajectory}
    _, summary, _ = _extract(
        python_code,
        trajectories=trajectories,
        settings=orm.Dict(values),
        seed=orm.Int(1),
        potential=si_tiny_lammps_potential,
    )
    assert summary['settings']['core_radius'] == 5.0
    with pytest.raises(ValueError, match='no core_radius'):
        run_get_node(
            ExtractionCalculation,
            code=python_code,
            trajectories=trajectories,
            settings=orm.Dict(values),
            seed=orm.Int(1),
        )
    # Unknown settings reach the job, which refuses them: the exit message names them.
    _, node = run_get_node(
        ExtractionCalculation, code=python_code, trajectories=trajectories, settings=_settings(bogus=1), seed=orm.Int(1)
    )
    assert node.exit_status == ExtractionCalculation.exit_codes.ERROR_TASK_FAILED.status
    assert 'unknown extraction settings' in node.exit_message


@pytest.mark.integration
def test_cut_outs_from_a_real_512_atom_run(python_code, tmp_path):
    """Real hot MD on 512 Si atoms (driver), then cut-outs whose centres keep their exact environments."""
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    for name in ('potential.yaml', 'potential.yace', 'potential.asi'):
        shutil.copy(POTENTIAL / name, tmp_path / name)
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(4)
    settings = MDSettings(temperature=2500.0, n_steps=200, dump_interval=50, gamma_lower=2.0, gamma_upper=50.0, seed=3)
    (tmp_path / 'structure.data').write_text(
        write_data_file(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, ['Si'])
    )
    (tmp_path / 'input.lammps').write_text(write_input_script(settings, ['Si']))
    exe = str(Path(sys.executable).parent / 'mlip-autopipe-lammps')
    subprocess.run(
        [exe, '-in', 'input.lammps', '-log', 'log.lammps', '-screen', 'none'],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    trajectory = frames_to_trajectory(read_dump(tmp_path / 'gamma.dump'), ['Si'], settings.timestep).store()
    assert trajectory.numsteps >= 1
    found, summary, _ = _extract(
        python_code, trajectories={'md': trajectory}, settings=_settings(max_environments=4), seed=orm.Int(0)
    )
    candidates = [found[key] for key in sorted(found)]
    assert candidates, summary['decisions']
    frames = _frames(trajectory)
    for candidate in candidates:
        attributes = candidate.base.attributes.all
        assert attributes['extraction_mode'] == 'cut-out'
        assert len(candidate.sites) <= 256
        weights = np.array(attributes['force_weights'])
        assert set(np.unique(weights)) == {0.1, 1.0}
        box = candidate.get_ase()
        frame = frames[attributes['parent_frame_index']][0]
        for inside, source in zip(attributes['centres_in_structure'], attributes['centre_indices'], strict=True):
            assert attributes['source_indices'][inside] == source
            i_box, d_box = neighbor_list('id', box, 5.0)
            i_frame, d_frame = neighbor_list('id', frame, 5.0)
            assert np.allclose(np.sort(d_box[i_box == inside]), np.sort(d_frame[i_frame == source]), atol=1e-8)
