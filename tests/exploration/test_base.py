"""``LammpsBaseWorkChain``: each handler decides on the stored outputs of a real MD.

The children are ``LammpsCalculation`` nodes whose outputs ``LammpsParser`` made from
``tests/fixtures/lammps/<case>`` (``make_fixtures.py`` says how each run was made).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiida import orm
from ase.build import bulk

from aiida_mlip_autopipe.exploration.base import LammpsBaseWorkChain
from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation
from aiida_mlip_autopipe.exploration.parser import LammpsParser
from tests.stage_children import parsed_child, report_lines
from tests.utils import instantiate

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'lammps'
EXIT = LammpsBaseWorkChain.exit_codes


@pytest.fixture
def generate_workchain(fixture_code, aiida_localhost, si_tiny_lammps_potential):
    """``make(case)``: the work chain after ``setup``, its one child the parsed fixture ``case``."""

    def make(case: str, scheduler_exit_status: int | None = None):
        settings = orm.Dict(json.loads((FIXTURES / case / 'settings.json').read_text())).store()
        inputs = {
            'lammps': {
                'code': fixture_code('mlip_autopipe.lammps'),
                'structure': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True)),
                'potential': si_tiny_lammps_potential,
                'settings': settings,
                'metadata': {'options': {'resources': {'num_machines': 1}}},
            }
        }
        process = instantiate(LammpsBaseWorkChain, **inputs)
        process.setup()
        child = parsed_child(
            'mlip_autopipe.lammps',
            LammpsCalculation,
            LammpsParser,
            FIXTURES / case,
            aiida_localhost,
            inputs={'settings': settings, 'potential': si_tiny_lammps_potential},
            scheduler_exit_status=scheduler_exit_status,
        )
        process.ctx.children = [child]
        process.ctx.iteration = 1
        return process, child

    return make


@pytest.mark.parametrize('case', ['stable', 'halted'])
def test_finished_runs_need_no_handler(generate_workchain, case):
    process, child = generate_workchain(case)
    assert child.is_finished_ok
    assert child.outputs.summary['halted'] is (case == 'halted')
    assert process.inspect_process() is None
    assert process.ctx.is_finished


def test_blow_up_is_a_result(generate_workchain):
    process, child = generate_workchain('blowup')
    assert child.exit_status == LammpsCalculation.exit_codes.ERROR_SIMULATION_UNSTABLE.status
    result = process.handle_blow_up(child)
    assert result.exit_code.status == 0
    assert process.ctx.is_finished  # finished, not restarted
    assert process.inspect_process().status == 0
    assert process.ctx.is_finished
    assert child.outputs.summary['blow_up'] is True
    assert 'uncertain_frames' in child.outputs
    assert any('blew up at step' in line and 'not retried' in line for line in report_lines(process))
    exposed = process.get_outputs(child)
    assert set(exposed) >= {'summary', 'uncertain_frames'}


def test_walltime_keeps_the_partial_trajectory_with_a_flag(generate_workchain):
    process, child = generate_workchain('walltime')
    assert child.exit_status == LammpsCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    summary = child.outputs.summary.get_dict()
    assert summary['walltime_reached'] is True
    assert summary['completed'] is False
    assert 0 < summary['last_step'] < summary['steps_requested']
    assert process.inspect_process().status == 0
    assert process.ctx.is_finished
    assert any('partial trajectory accepted' in line for line in report_lines(process))


def test_scheduler_walltime_is_a_walltime(generate_workchain):
    """The ``incomplete`` run (killed by hand) reported by a scheduler as out of walltime (120)."""
    process, child = generate_workchain('incomplete', scheduler_exit_status=120)
    assert child.exit_status == LammpsCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    assert child.outputs.summary['walltime_reached'] is True
    assert process.inspect_process().status == 0


@pytest.mark.parametrize(
    ('case', 'fragment'),
    [
        ('incomplete', 'without an error message'),
        ('unsupported', 'refused the input'),
        ('gamma_zero', 'active set was not loaded'),
    ],
)
def test_unrecoverable_failures_stop_naming_what_failed(generate_workchain, case, fragment):
    process, child = generate_workchain(case)
    assert child.is_failed
    status = process.inspect_process()
    assert status.status == EXIT.ERROR_UNRECOVERABLE_FAILURE.status
    assert f'LammpsCalculation<{child.pk}> failed with exit status {child.exit_status}' in status.message
    assert fragment in status.message
    assert not process.ctx.is_finished


def test_protocols_and_overrides(fixture_code, si_tiny_lammps_potential):
    code = fixture_code('mlip_autopipe.lammps')
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))
    steps = {}
    for protocol in ('fast', 'balanced', 'stringent'):
        builder = LammpsBaseWorkChain.get_builder_from_protocol(
            code, structure, si_tiny_lammps_potential, 600.0, protocol=protocol
        )
        steps[protocol] = builder.lammps.settings['n_steps']
        assert builder.lammps.settings['temperature'] == 600.0
    assert steps['fast'] < steps['balanced'] < steps['stringent']
    builder = LammpsBaseWorkChain.get_builder_from_protocol(
        code,
        structure,
        si_tiny_lammps_potential,
        300.0,
        overrides={'lammps': {'settings': {'n_steps': 200}}},
        options={'max_wallclock_seconds': 60},
    )
    assert builder.lammps.settings['n_steps'] == 200
    assert builder.lammps.metadata.options['max_wallclock_seconds'] == 60
