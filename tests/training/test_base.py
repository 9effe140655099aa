"""``PacemakerBaseWorkChain``: each handler decides on the stored outputs of a real failed fit.

The children are ``PacemakerCalculation`` nodes whose outputs ``PacemakerParser`` made from
``tests/fixtures/pacemaker/<case>`` (see its README for how each run was provoked).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiida import orm
from aiida.engine import ProcessHandlerReport
from ase.io import read

from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.training.base import PacemakerBaseWorkChain
from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
from aiida_mlip_autopipe.training.parser import PacemakerParser
from tests.stage_children import parsed_child, report_lines
from tests.utils import instantiate

FIXTURES = Path(__file__).parents[1] / 'fixtures'
EXIT = PacemakerBaseWorkChain.exit_codes


@pytest.fixture
def generate_workchain(fixture_code, aiida_localhost):
    """``make(case, settings)``: the work chain after ``setup``, its one child the parsed fixture ``case``."""

    def make(case: str, settings: dict | None = None, scheduler_exit_status: int | None = None):
        frames = read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':4')
        inputs = {
            'pacemaker': {
                'code': fixture_code('mlip_autopipe.pacemaker'),
                'training_set': TrainingSetData.from_frames(frames).store(),
                'settings': orm.Dict(settings or {}),
                'metadata': {'options': {'resources': {'num_machines': 1}}},
            }
        }
        process = instantiate(PacemakerBaseWorkChain, **inputs)
        process.setup()
        child = parsed_child(
            'mlip_autopipe.pacemaker',
            PacemakerCalculation,
            PacemakerParser,
            FIXTURES / 'pacemaker' / case,
            aiida_localhost,
            scheduler_exit_status=scheduler_exit_status,
        )
        process.ctx.children = [child]
        process.ctx.iteration = 1
        return process, child

    return make


def test_success_needs_no_handler(generate_workchain):
    process, child = generate_workchain('success')
    assert child.is_finished_ok
    assert process.inspect_process() is None
    assert process.ctx.is_finished


def test_out_of_memory_halves_the_batch(generate_workchain):
    process, child = generate_workchain('out_of_memory', {'batch_size': 40})
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_OUT_OF_MEMORY.status
    result = process.handle_out_of_memory(child)
    assert isinstance(result, ProcessHandlerReport) and result.exit_code.status == 0
    assert process.ctx.inputs.settings['batch_size'] == 20
    assert process.inspect_process().status == 0  # a restart
    assert process.ctx.inputs.settings['batch_size'] == 10  # inspect_process called the handler once more
    assert any(
        'ran out of memory with batch_size 40: restarting with batch_size 20' in line for line in report_lines(process)
    )


def test_out_of_memory_at_batch_size_one_stops(generate_workchain):
    process, child = generate_workchain('out_of_memory', {'batch_size': 1})
    result = process.handle_out_of_memory(child)
    assert result.exit_code.status == EXIT.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE.status
    assert f'PacemakerCalculation<{child.pk}>' in result.exit_code.message
    assert process.inspect_process().status == EXIT.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE.status


def test_nonfinite_loss_changes_seed_and_strengthens_l2(generate_workchain):
    process, child = generate_workchain('nonfinite_loss', {'seed': 7, 'l2_regularization': 1e-8})
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_NAN_LOSS.status
    result = process.handle_nonfinite_loss(child)
    assert result.exit_code.status == 0
    assert process.ctx.inputs.settings['seed'] == 8
    assert process.ctx.inputs.settings['l2_regularization'] == pytest.approx(1e-7)
    assert any('restarting with seed 8 (was 7) and L2 regularisation 1e-07' in line for line in report_lines(process))


def test_nonfinite_loss_at_the_largest_l2_stops(generate_workchain):
    process, child = generate_workchain('nonfinite_loss', {'l2_regularization': 1.0})
    result = process.handle_nonfinite_loss(child)
    assert result.exit_code.status == EXIT.ERROR_NONFINITE_LOSS.status
    assert 'outliers' in result.exit_code.message


def test_walltime_restarts_from_the_interim_potential(generate_workchain):
    process, child = generate_workchain('walltime', {'maxiter': 5000})
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    interim = child.outputs.interim_potential
    assert interim.elements == ['Si']
    assert interim.base.attributes.get('interim')['file'] == 'interim_potential_0.yaml'
    done = child.outputs.metrics['iterations']
    assert 0 < done < 5000
    result = process.handle_out_of_walltime(child)
    assert result.exit_code.status == 0
    assert process.ctx.inputs.initial_potential.uuid == interim.uuid
    assert process.ctx.inputs.settings['maxiter'] == 5000 - done
    assert process.ctx.inputs.settings['warm_start'] is True
    assert any(
        f'restarting from its interim potential AcePotentialData<{interim.pk}>' in line
        for line in report_lines(process)
    )


def test_walltime_before_any_interim_potential_stops(generate_workchain):
    process, child = generate_workchain('walltime_no_interim')
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    assert 'interim_potential' not in child.outputs
    result = process.handle_out_of_walltime(child)
    assert result.exit_code.status == EXIT.ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL.status
    assert 'raise max_wallclock_seconds' in result.exit_code.message


def test_scheduler_walltime_is_a_walltime(generate_workchain):
    """A kill the scheduler reported as out of walltime (120, as SLURM's parser sets it) is handled as one."""
    process, child = generate_workchain('interrupted', scheduler_exit_status=120)
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    assert 'the scheduler killed the job' in child.exit_message
    assert process.inspect_process().status == EXIT.ERROR_WALLTIME_WITHOUT_INTERIM_POTENTIAL.status


def test_interrupted_without_interim_potential_is_unrecoverable(generate_workchain):
    process, child = generate_workchain('interrupted')
    assert child.exit_status == PacemakerCalculation.exit_codes.ERROR_PACEMAKER_INTERRUPTED.status
    result = process.handle_interrupted(child)
    assert result.exit_code.status == EXIT.ERROR_UNRECOVERABLE_FAILURE.status
    assert 'stopped from outside before any interim potential' in result.exit_code.message


@pytest.mark.parametrize(
    ('case', 'fragment'),
    [
        ('corrupted_dataset', 'pacemaker rejected the data set'),
        ('active_set_failure', 'pace_activeset failed'),
    ],
)
def test_unrecoverable_failures_stop_naming_what_failed(generate_workchain, case, fragment):
    process, child = generate_workchain(case)
    assert child.is_failed
    status = process.inspect_process()
    assert status.status == EXIT.ERROR_UNRECOVERABLE_FAILURE.status
    assert f'PacemakerCalculation<{child.pk}> failed with exit status {child.exit_status}' in status.message
    assert fragment in status.message
    assert any(
        f'PacemakerCalculation<{child.pk}> failed [{child.exit_status}]' in line for line in report_lines(process)
    )


def test_protocols_and_overrides(fixture_code, aiida_profile):
    code = fixture_code('mlip_autopipe.pacemaker')
    frames = read(FIXTURES / 'datasets' / 'si_pw_lda.extxyz', ':4')
    training_set = TrainingSetData.from_frames(frames).store()
    assert set(PacemakerBaseWorkChain.get_available_protocols()) == {'fast', 'balanced', 'stringent'}
    sizes = {}
    for protocol in ('fast', 'balanced', 'stringent'):
        builder = PacemakerBaseWorkChain.get_builder_from_protocol(code, training_set, protocol=protocol)
        sizes[protocol] = builder.pacemaker.settings['functions_per_element']
    assert sizes['fast'] < sizes['balanced'] < sizes['stringent']
    builder = PacemakerBaseWorkChain.get_builder_from_protocol(
        code,
        training_set,
        protocol='fast',
        overrides={'pacemaker': {'settings': {'maxiter': 7}}},
        options={'max_wallclock_seconds': 120},
    )
    assert builder.pacemaker.settings['maxiter'] == 7
    assert builder.pacemaker.settings['functions_per_element'] == 16
    assert builder.pacemaker.metadata.options['max_wallclock_seconds'] == 120
    assert builder.pacemaker.metadata.options['resources'] == {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
