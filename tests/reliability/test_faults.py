"""Fault injection on real pw.x runs: what is recovered, what is recorded and skipped, what stops the run.

* SCF non-convergence (``electron_maxstep`` 3): ``PwBaseWorkChain`` lowers ``mixing_beta`` and
  restarts from the last run until the SCF converges; only the converged result is a label.
* Atoms on top of each other: pw.x stops in ``check_atoms`` ("atoms # 1 and # 2 overlap!"),
  no handler applies, the label fails; within the failure budget the other labels go on, over
  it the work chain exits with 401.
"""

from __future__ import annotations

import itertools

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching

from aiida_mlip_autopipe.caching import DFT_CACHING_IDENTIFIERS
from aiida_mlip_autopipe.labelling.config import DFTConfig
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

from .harness import handler_restarts, pw_calculations, write_summary

pytestmark = pytest.mark.integration


def _builder(code, structures, failure_budget=0.25, min_distance=None, **dft):
    config = DFTConfig(kpoints_distance=0.5, max_concurrent=2, **dft)
    builder = LabellingWorkChain.get_builder_from_protocol(code, structures, dft=config, failure_budget=failure_budget)
    if min_distance is not None:
        builder.min_distance = min_distance
    return builder


@pytest.fixture
def good_and_overlapping(si_cells):
    """One ordinary cell and one whose two atoms sit on the same spot."""
    from ase.build import bulk

    atoms = bulk('Si', 'diamond', a=5.40)
    atoms.positions[1] = atoms.positions[0]
    return {'good': si_cells(1, seed=40)['s00'], 'overlap': orm.StructureData(ase=atoms)}


def test_scf_nonconvergence_recovered_by_handler(pw_code, pseudo_families, si_cells):
    structures = si_cells(1, seed=41)
    results, node = run_get_node(_builder(pw_code, structures, electron_maxstep=3))
    assert node.is_finished_ok, node.exit_message

    calcs = pw_calculations(node)
    assert len(calcs) >= 2, 'three SCF steps cannot converge this cell: the handler must have restarted'
    *failed, last = calcs
    assert all(c.exit_status == 410 for c in failed)  # ERROR_ELECTRONIC_CONVERGENCE_NOT_REACHED
    assert last.exit_status == 0
    for before, after in itertools.pairwise(calcs):
        # A full restart from the previous run, with less aggressive mixing.
        assert after.inputs.parameters['CONTROL']['restart_mode'] == 'restart'
        assert after.inputs.parent_folder.uuid == before.outputs.remote_folder.uuid
        assert after.inputs.parameters['ELECTRONS']['mixing_beta'] < before.inputs.parameters['ELECTRONS'].get(
            'mixing_beta', 0.4
        )
    # (What handle_electronic_convergence_not_reached does; its report is not read from the
    # database, because a CLI command invoked earlier in the same interpreter reconfigures logging.)
    base = last.caller
    assert base.process_label == 'PwBaseWorkChain' and base.is_finished_ok

    # The training set holds the converged energy only.
    (frame,) = results['training_set'].get_frames()
    assert frame.get_potential_energy() == pytest.approx(last.outputs.output_parameters['energy'])
    assert frame.info['workchain_uuid'] == base.uuid
    assert results['failures']['num_failed'] == 0
    write_summary(
        'faults',
        {
            'fault': 'SCF not converged (electron_maxstep 3)',
            'pw_calculations': len(calcs),
            'handler_restarts': handler_restarts(node),
            'outcome': f'recovered by PwBaseWorkChain after {len(calcs) - 1} restart(s); label kept',
            'result': 'recovered',
            'exit_status': node.exit_status,
        },
    )


def test_unrecoverable_failure_recorded_and_skipped(pw_code, pseudo_families, good_and_overlapping):
    # The distance pre-check is switched off so that pw.x itself fails (its check_atoms error).
    results, node = run_get_node(_builder(pw_code, good_and_overlapping, failure_budget=0.5, min_distance=0.0))
    assert node.is_finished_ok, node.exit_message

    failures = results['failures'].get_dict()
    assert failures['num_failed'] == 1
    (record,) = failures['failed']
    assert record['key'] == 'overlap'
    assert record['structure_uuid'] == good_and_overlapping['overlap'].uuid
    base = orm.load_node(record['process_pk'])
    assert base.exit_status == record['exit_status'] != 0
    (calc,) = pw_calculations(base)
    assert not calc.is_finished_ok
    with calc.outputs.retrieved.base.repository.open('aiida.out') as handle:
        assert 'overlap' in handle.read()
    # The failure is provenance: the record is a node linked to the structure that failed.
    incoming = results['failures'].creator.base.links.get_incoming().all_nodes()
    assert good_and_overlapping['overlap'] in incoming

    # The good label went on and is the only one trained on.
    training_set = results['training_set']
    uuids = {frame.info['structure_uuid'] for frame in training_set.get_frames()}
    assert uuids == {good_and_overlapping['good'].uuid}
    write_summary(
        'faults',
        {
            'fault': 'overlapping atoms (pw.x check_atoms error), 1 of 2 labels, budget 50 %',
            'pw_calculations': len(pw_calculations(node)),
            'handler_restarts': handler_restarts(node),
            'outcome': f'recorded in failures (PwBaseWorkChain [{record["exit_status"]}]), skipped; run ok',
            'result': 'recorded and skipped',
            'exit_status': node.exit_status,
        },
    )


def test_failures_over_budget_stop_with_401(pw_code, pseudo_families, good_and_overlapping):
    # The good label is the same computation as in the test above: take it from the cache if it ran.
    with enable_caching(identifier=DFT_CACHING_IDENTIFIERS[0]):
        results, node = run_get_node(_builder(pw_code, good_and_overlapping, failure_budget=0.25, min_distance=0.0))
    assert node.exit_status == LabellingWorkChain.exit_codes.ERROR_FAILURE_BUDGET_EXCEEDED.status == 401
    assert '1 of 2 labels failed, more than the failure budget of 25%' in node.exit_message
    assert 'training_set' not in results
    assert results['failures']['num_failed'] == 1
    write_summary(
        'faults',
        {
            'fault': 'overlapping atoms, 1 of 2 labels, budget 25 %',
            'pw_calculations': len(pw_calculations(node)),
            'handler_restarts': handler_restarts(node),
            'outcome': 'failure budget exceeded: LabellingWorkChain exit 401, no training set',
            'result': 'run stopped (401)',
            'exit_status': node.exit_status,
        },
    )


def test_nearly_overlapping_atoms_are_not_trained_on(pw_code, pseudo_families, si_cells):
    """pw.x's own check only catches atoms on the same spot; 0.005 Å apart it "converges" to garbage."""
    from ase.build import bulk

    atoms = bulk('Si', 'diamond', a=5.40)
    atoms.positions[1] = atoms.positions[0] + [0.005, 0, 0]
    structures = {'good': si_cells(1, seed=40)['s00'], 'near': orm.StructureData(ase=atoms)}
    with enable_caching(identifier=DFT_CACHING_IDENTIFIERS[0]):
        results, node = run_get_node(_builder(pw_code, structures, failure_budget=0.5))
    uuids = {frame.info['structure_uuid'] for frame in results['training_set'].get_frames()}
    assert structures['near'].uuid not in uuids
    assert results['failures']['num_failed'] == 1
    assert 'Å apart' in results['failures']['failed'][0]['exit_message']
    assert len(pw_calculations(node)) == 1  # the broken cell never reached pw.x
    write_summary(
        'faults',
        {
            'fault': 'nearly overlapping atoms (0.005 Å), 1 of 2 labels',
            'pw_calculations': len(pw_calculations(node)),
            'handler_restarts': handler_restarts(node),
            'outcome': 'caught before pw.x: recorded as a failure (atoms closer than 0.5 Å), not in the training set',
            'result': 'recorded and skipped',
            'exit_status': node.exit_status,
        },
    )
