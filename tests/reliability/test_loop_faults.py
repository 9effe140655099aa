"""Fault injection in fitting and exploration, on real pacemaker and LAMMPS runs.

* A corrupted training set (a NaN written into the extxyz file after the set was made):
  pacemaker rejects it and ``PacemakerCalculation`` ends with 402 (``ERROR_CORRUPTED_DATASET``).
* Fits that fail inside the loop: each is recorded in the history (``fit_failures``); a failure
  of the data is not retried; over ``loop.failure_budget.fits`` the loop ends with 403.
* An MD that blows up (8000 K, 10 fs steps: LAMMPS loses atoms): ``LammpsCalculation`` ends with
  401 (``ERROR_SIMULATION_UNSTABLE``) and the loop counts the run as halted (uncertain), not as
  a failed MD run, and finishes.

The loops start from labels that already exist (``initial_training_set`` with a DFT budget
they use up), so no pw.x runs: each loop is a minute or less of real pacemaker and LAMMPS.
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlip_autopipe.config import parse_config
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.exploration.calculation import LammpsCalculation
from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain
from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

from .harness import write_summary

pytestmark = pytest.mark.integration

DATASET = Path(__file__).parents[1] / 'fixtures' / 'datasets' / 'si_pw_lda.extxyz'
NUM_FRAMES = 6

#: A one-generation loop that starts from ``NUM_FRAMES`` existing labels with a DFT budget of as
#: many: it labels nothing, fits, explores (one MD) and stops.
FAULT_LOOP_CONFIG = {
    'name': 'reliability-faults',
    'seed': 3,
    'target': {'elements': ['Si'], 'prototype': 'diamond', 'lattice_constant': 5.43, 'supercell_atoms': [8]},
    'generator': {'operations': [{'kind': 'rattle', 'stdev': 0.05, 'copies': 1}]},
    'screening': {'model': 'none'},
    'selection': {'n_select': 1},
    'dft': {'kpoints_distance': 0.6, 'max_concurrent': 2},
    'training': {'functions_per_element': 8, 'maxiter': 5, 'test_fraction': 0.0},
    'exploration': {
        'temperatures': [1500],
        'n_steps': 100,
        'thermo_interval': 10,
        'dump_interval': 10,
        'supercell_atoms': 16,
        'gamma_lower': 2.0,
        'gamma_upper': 50,
    },
    # No held-out labels and no final refit: these tests are about the loop's own fits.
    'loop': {
        'max_generations': 1,
        'dft_budget': NUM_FRAMES,
        'failure_budget': {'fits': 1},
        'holdout': 0,
        'final_fit': {'enabled': False},
    },
    'validation': {'enabled': False},
}


def _frames():
    from ase.io import read

    return read(DATASET, ':')[:NUM_FRAMES]


def corrupted_training_set(what: str) -> TrainingSetData:
    """The first ``NUM_FRAMES`` real labels, with NaN written into the extxyz file of the set afterwards.

    ``TrainingSetData.from_frames`` refuses non-finite labels, but a file edited by hand, or
    written by another tool and put into the node with ``set_file``, is read back as it is:
    ``what='force'`` makes the z force on the first atom of frame 0 NaN, ``what='energy'`` the
    energy of frame 0.
    """
    node = TrainingSetData.from_frames(_frames())
    lines = node.get_content().splitlines()
    header = lines[1]
    assert re.search(r'Properties=\S*forces:R:3(\s|$)', header), header  # the forces are the last 3 columns
    if what == 'force':
        columns = lines[2].split()
        columns[-1] = 'nan'
        lines[2] = '  '.join(columns)
    elif what == 'energy':
        lines[1], count = re.subn(r'(?<=\s)energy=\S+', 'energy=nan', header, count=1)
        assert count == 1, header
    else:
        raise ValueError(what)
    node.set_file(io.BytesIO(('\n'.join(lines) + '\n').encode()), filename=TrainingSetData.DEFAULT_FILENAME)
    first = node.get_frames()[0]
    corrupted = first.get_forces()[0, 2] if what == 'force' else first.get_potential_energy()
    assert np.isnan(corrupted) and node.num_frames == NUM_FRAMES
    return node


@pytest.fixture
def fit_codes(stand_in_codes, stand_in_families):
    """The codes of a loop that labels nothing: real pacemaker and LAMMPS driver; pw.x may be a stand-in.

    Skips when pacemaker or the LAMMPS driver is missing.
    """
    from tests.stand_ins import is_stand_in

    missing = sorted(label for label in ('pacemaker', 'lammps') if is_stand_in(stand_in_codes[label]))
    if missing:
        pytest.skip(f'codes not installed: {missing}')
    return dict(stand_in_codes)


def _loop_builder(codes, config: dict, **inputs):
    config = parse_config(config)
    return ActiveLearningWorkChain.get_builder_from_protocol(config, codes=codes, protocol='fast', **inputs)


def _children(node, process_label: str) -> list[orm.ProcessNode]:
    return sorted((c for c in node.called_descendants if c.process_label == process_label), key=lambda c: c.pk)


def test_empty_training_set_is_refused_before_any_node(fit_codes):
    """The other corruption, an empty set, never reaches pacemaker: the input validator refuses it."""
    count = orm.QueryBuilder().append(orm.Node).count()
    with pytest.raises(ValueError, match='the training set has no frames'):
        run_get_node(PacemakerCalculation, code=fit_codes['pacemaker'], training_set=TrainingSetData.from_frames([]))
    assert orm.QueryBuilder().append(orm.Node).count() == count


def test_corrupted_training_set_gives_402(fit_codes):
    training_set = corrupted_training_set('force')
    settings = {'functions_per_element': 8, 'maxiter': 5, 'test_fraction': 0.0}
    results, node = run_get_node(
        PacemakerCalculation, code=fit_codes['pacemaker'], training_set=training_set, settings=orm.Dict(settings)
    )
    assert node.exit_status == PacemakerCalculation.exit_codes.ERROR_CORRUPTED_DATASET.status == 402
    assert node.exit_message == 'pacemaker rejected the data set: AssertionError: forces column contains NaN'
    assert 'potential' not in results  # nothing to explore with
    assert 'metrics' in results  # what pacemaker did before it stopped
    stderr = node.outputs.retrieved.base.repository.get_object_content(PacemakerCalculation.FILENAME_STDERR)
    assert 'preparedata.py' in stderr and 'forces column contains NaN' in stderr
    write_summary(
        'faults',
        {
            'stage': 'fit',
            'fault': 'corrupted training set (NaN force written into its extxyz file)',
            'process': f'PacemakerCalculation [{node.exit_status}]',
            'exit_status': None,  # no loop around it
            'outcome': f'{node.exit_message}; no potential',
            'result': 'exit code (402)',
        },
    )


def test_fit_failures_over_budget_end_the_loop_with_403(fit_codes):
    """A fit that fails in pacemaker (not in the data): its restart work chain gives up, the loop counts it.

    The radial basis parameters are overridden on purpose (``training.extra_input_overrides``) with
    a value pacemaker cannot read; the loop's budget of 0 failed fits is exceeded by the first.
    """
    config = copy.deepcopy(FAULT_LOOP_CONFIG)
    config['training']['extra_input'] = {'potential': {'bonds': {'ALL': {'radparameters': ['not-a-number']}}}}
    config['training']['extra_input_overrides'] = ['potential.bonds.*.radparameters']
    config['loop']['failure_budget'] = {'fits': 0}
    builder = _loop_builder(fit_codes, config, initial_training_set=TrainingSetData.from_frames(_frames()))
    results, node = run_get_node(builder)

    assert node.exit_status == ActiveLearningWorkChain.exit_codes.ERROR_FIT_FAILURE_BUDGET_EXCEEDED.status == 403
    assert node.exit_message == 'Failure budget exceeded: 1 fits failed, above the budget of 0.'
    (base,) = _children(node, 'PacemakerBaseWorkChain')
    (fit,) = _children(node, 'PacemakerCalculation')
    assert base.is_failed and fit.is_failed
    assert f'PacemakerCalculation<{fit.pk}>' in base.exit_message
    (generation,) = results['history']['generations']
    assert generation['fit_failures'] == [
        {
            'pk': base.pk,
            'exit_status': base.exit_status,
            'message': base.exit_message,
            'calculation': {'pk': fit.pk, 'exit_status': fit.exit_status, 'message': fit.exit_message},
        }
    ]
    assert results['stop'].get_dict() == {
        'rule': 'fit_failure_budget',
        'message': '1 fits failed, above the budget of 0',
    }
    # The loop stopped where it was: no MD, no DFT, no potential; the labels it had are still an output.
    assert not _children(node, 'LammpsCalculation') and not _children(node, 'PwCalculation')
    assert 'potential' not in results
    assert results['training_set'].num_frames == NUM_FRAMES
    write_summary(
        'faults',
        {
            'stage': 'fit',
            'fault': 'fit fails in pacemaker (unreadable radial parameters via training.extra_input_overrides), '
            'fit budget 0',
            'process': f'PacemakerBaseWorkChain [{base.exit_status}] > PacemakerCalculation [{fit.exit_status}]',
            'exit_status': node.exit_status,
            'outcome': 'the restart work chain gave up (unrecoverable), recorded in history.fit_failures with the '
            'calculation; budget exceeded: ActiveLearningWorkChain exit 403, no MD',
            'result': 'run stopped (403)',
        },
    )


def test_failed_fit_within_budget_and_md_blow_up_as_uncertainty(fit_codes, si_tiny_lammps_potential):
    """A corrupted data set fails the fit (recorded, not retried); the loop explores with the previous potential.

    The MD is driven to blow up (8000 K, 10 fs steps, no gamma halt): LAMMPS loses atoms, the
    calculation ends with 401, and the loop counts it as halted, with the steps it never reached
    as uncertain, then extracts environments from what it dumped and finishes.
    """
    config = copy.deepcopy(FAULT_LOOP_CONFIG)
    config['exploration'].update(temperatures=[8000.0], timestep=0.01, n_steps=1000, gamma_upper=1e6)
    builder = _loop_builder(
        fit_codes,
        config,
        initial_training_set=corrupted_training_set('energy'),
        initial_potential=si_tiny_lammps_potential,
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, f'[{node.exit_status}] {node.exit_message}'

    # The fit: rejected data, recorded, not retried (the same data would fail again), within the budget of 1.
    (fit,) = _children(node, 'PacemakerCalculation')
    assert fit.exit_status == PacemakerCalculation.exit_codes.ERROR_CORRUPTED_DATASET.status == 402
    assert 'energy_corrected contains NaNs' in fit.exit_message
    (generation,) = results['history']['generations']
    (failure,) = generation['fit_failures']
    assert failure['calculation'] == {'pk': fit.pk, 'exit_status': 402, 'message': fit.exit_message}
    assert generation['potential_reused'] == si_tiny_lammps_potential.pk  # recorded, not silent
    assert results['potential'].uuid == si_tiny_lammps_potential.uuid

    # The MD: a real blow-up, counted as uncertainty.
    (md,) = _children(node, 'LammpsCalculation')
    assert md.exit_status == LammpsCalculation.exit_codes.ERROR_SIMULATION_UNSTABLE.status == 401
    summary = md.outputs.summary.get_dict()
    assert summary['blow_up'] is True
    assert summary['steps_run'] < 1000
    assert md.inputs.potential.uuid == si_tiny_lammps_potential.uuid
    assert generation['md_runs'] == 1
    assert generation['md_halted'] == 1
    assert generation['md_failed'] == 0
    assert generation['uncertain_fraction'] >= (1000 - summary['steps_run']) / 1000
    assert results['stop']['rule'] != 'md_failure_budget'
    write_summary(
        'faults',
        {
            'stage': 'fit',
            'fault': 'corrupted initial training set (NaN energy in its file) in the loop, fit budget 1',
            'process': f'PacemakerCalculation [{fit.exit_status}]',
            'exit_status': node.exit_status,
            'outcome': 'recorded in history.fit_failures, not retried (data problem); '
            'the loop explored with the previous potential and finished',
            'result': 'recorded, run went on',
        },
    )
    write_summary(
        'faults',
        {
            'stage': 'MD',
            'fault': f'MD blow-up (8000 K, 10 fs steps): LAMMPS lost atoms after {summary["steps_run"]} of 1000 steps',
            'process': f'LammpsCalculation [{md.exit_status}]',
            'exit_status': node.exit_status,
            'outcome': f'counted as halted (uncertain), not failed: md_halted {generation["md_halted"]}, '
            f'md_failed {generation["md_failed"]}, uncertain fraction {generation["uncertain_fraction"]:.2f}; '
            f'{generation["new_candidates"]} environments extracted; run ok',
            'result': 'uncertainty',
        },
    )
