"""Real MD through ``LammpsCalculation`` (tiny real Si potential): hot run halts, cool run is stable, candidates."""

from __future__ import annotations

import time

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation
from aiida_mlip_autopipe.exploration.config import ExplorationConfig
from aiida_mlip_autopipe.exploration.extract_job import ExtractionCalculation


def _md(code, potential, atoms, settings: dict):
    builder = LammpsCalculation.get_builder()
    builder.code = code
    builder.structure = orm.StructureData(ase=atoms)
    builder.potential = potential
    builder.settings = orm.Dict(settings)
    builder.metadata.options.max_wallclock_seconds = 600
    start = time.perf_counter()
    _, node = run_get_node(builder)
    return node, time.perf_counter() - start


@pytest.mark.integration
def test_hot_run_halts_cool_run_is_stable_and_frames_become_candidates(
    codes_from_setup, python_code, si_tiny_lammps_potential
):
    from ase.build import bulk

    if 'lammps' not in codes_from_setup:
        pytest.skip('mlip-autopipe-lammps is not installed')
    code = codes_from_setup['lammps']
    exploration = ExplorationConfig(
        temperatures=[2500.0], n_steps=1000, thermo_interval=10, dump_interval=10, gamma_lower=2.0, gamma_upper=8.0
    )
    cell = bulk('Si', 'diamond', a=5.43, cubic=True)

    # Hot: 16 atoms at 2500 K leave the 2- and 8-atom cells of the training set behind.
    hot, hot_wall = _md(code, si_tiny_lammps_potential, cell.repeat((2, 1, 1)), exploration.md_settings(2500.0, seed=6))
    assert hot.exit_status == 0, hot.exit_message
    summary = hot.outputs.summary.get_dict()
    assert summary['halted'] or summary['n_frames_dumped'] > 0
    assert summary['max_gamma'] >= exploration.gamma_lower
    assert summary['stable'] is False
    frames = hot.outputs.uncertain_frames
    assert frames.numsteps == summary['n_frames_dumped'] > 0
    assert frames.get_array('max_gamma').min() >= exploration.gamma_lower
    print(
        f'\nhot: halted={summary["halted"]} at step {summary["halted_at_step"]}, max gamma {summary["max_gamma"]:.2f}, '
        f'{summary["n_frames_dumped"]} frames, {summary["ms_per_step"]:.2f} ms/step, '
        f'CalcJob wall {hot_wall:.1f} s'
    )

    # Uncertain frames -> candidates, with provenance back to the MD run.
    settings = orm.Dict(exploration.extraction.settings(5.0, exploration.gamma_lower, 0.1, generation=1))
    results, extraction = run_get_node(
        ExtractionCalculation, code=python_code, trajectories={'hot': frames}, settings=settings, seed=orm.Int(1)
    )
    assert extraction.is_finished_ok, extraction.exit_message
    candidates = [node for _, node in sorted(results['structures'].items())]
    assert candidates
    for candidate in candidates:
        assert candidate.base.extras.get('origin') == 'gamma-extract'
        assert candidate.base.extras.get('parent_uuid') == frames.uuid
        assert len(candidate.base.attributes.get('force_weights')) == len(candidate.sites)
        creator = candidate.base.links.get_incoming(link_type=LinkType.CREATE).one().node
        assert creator.pk == extraction.pk
        trajectory = creator.base.links.get_incoming(link_label_filter='trajectories__hot').one().node
        assert trajectory.uuid == frames.uuid
        assert trajectory.creator.uuid == hot.uuid  # ... which the LammpsCalculation created

    # Cool: 8 atoms at 300 K stay inside the training data.
    cool, cool_wall = _md(
        code,
        si_tiny_lammps_potential,
        cell,
        ExplorationConfig(n_steps=300, temperatures=[300.0]).md_settings(300.0, seed=11),
    )
    assert cool.exit_status == 0, cool.exit_message
    summary = cool.outputs.summary.get_dict()
    assert summary['stable'] is True
    assert summary['halted'] is False
    assert summary['steps_run'] == 300
    assert 0 < summary['max_gamma'] < 2.0
    assert 'uncertain_frames' not in cool.outputs
    print(
        f'cool: stable, max gamma {summary["max_gamma"]:.2f}, {summary["ms_per_step"]:.2f} ms/step, '
        f'CalcJob wall {cool_wall:.1f} s'
    )
