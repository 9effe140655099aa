"""LabellingWorkChain: builder, per-structure inputs, failure decisions, and a real pw.x run."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.labelling.config import DFTConfig
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from tests.utils import fake_pw_outputs, finished_workflow, instantiate


@pytest.fixture
def structures(si_atoms):
    rattled = si_atoms.copy()
    rattled.rattle(0.05, seed=3)
    return {'a': orm.StructureData(ase=si_atoms), 'b': orm.StructureData(ase=rattled)}


@pytest.fixture
def builder(stand_in_codes, stand_in_families, structures):
    """A builder of the step tests: no pw.x runs, so the code and families may be stand-ins."""
    return LabellingWorkChain.get_builder_from_protocol(
        stand_in_codes['pw'], structures, dft=DFTConfig(kpoints_distance=0.5)
    )


def test_builder_uses_family_cutoffs_for_all_elements(stand_in_codes, stand_in_families):
    from ase.build import bulk

    sige = bulk('Si', 'diamond', a=5.5)
    sige.symbols[1] = 'Ge'
    builder = LabellingWorkChain.get_builder_from_protocol(
        stand_in_codes['pw'],
        {'x': orm.StructureData(ase=sige)},
        dft=DFTConfig(pseudo_family='MLIPAutoPipe/Debian/PBE'),
    )
    system = builder.dft.pw.parameters['SYSTEM']
    # Si (44 Ry) is harder than Ge (30 Ry): every label uses the larger, so energies are comparable.
    assert (system['ecutwfc'], system['ecutrho']) == (44.0, 352.0)
    assert set(builder.dft.pw.pseudos) == {'Si', 'Ge'}
    assert 'structure' not in builder.dft.pw


def test_validator_rejects_missing_pseudo(builder, si_atoms):
    ge = si_atoms.copy()
    ge.symbols[:] = 'Ge'
    builder.structures = {'ge': orm.StructureData(ase=ge)}
    with pytest.raises(ValueError, match=r"no pseudopotential for \['Ge'\]"):
        instantiate(LabellingWorkChain, **builder._inputs(prune=True))


def test_inputs_per_structure(builder, structures):
    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    process.setup()
    big = orm.StructureData(ase=structures['a'].get_ase().repeat(2))
    inputs = process._inputs_for(big)
    assert inputs.pw.structure is big
    assert set(inputs.pw.pseudos) == {'Si'}
    # conv_thr scales with the number of atoms of each structure.
    assert inputs.pw.parameters['ELECTRONS']['conv_thr'] == pytest.approx(16 * 1e-8)
    # 64 valence electrons, 32 occupied bands: 1.5 times as many, so no restart for too few bands.
    assert inputs.pw.parameters['SYSTEM']['nbnd'] == 48
    assert process._inputs_for(structures['a']).pw.parameters['SYSTEM']['nbnd'] == 12
    assert process.ctx.pending == ['a', 'b']


def _running_child():
    """A stored, not yet terminated child, as a submitted PwBaseWorkChain is while pw.x runs."""
    from plumpy import ProcessState

    node = orm.WorkflowNode()
    node.set_process_state(ProcessState.RUNNING)
    node.set_process_label('PwBaseWorkChain')
    return node.store()


def test_a_rolling_pool_starts_a_label_as_soon_as_one_finishes(builder, si_atoms):
    """Largest cells first; max_concurrent kept running; a free slot is filled before the others finish."""
    from plumpy import ProcessState

    big = si_atoms.repeat((2, 2, 1))
    builder.structures = {**builder.structures, 'c': orm.StructureData(ase=big)}
    builder.max_concurrent = orm.Int(2)
    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    submitted = []

    def submit(_, **inputs):
        submitted.append(len(inputs['pw']['structure'].sites))
        return _running_child()

    process.submit = submit
    process.setup()
    assert process.ctx.pending == ['c', 'a', 'b']  # 8 atoms first, then the 2-atom cells by key
    process.inspect_batch()
    process.run_batch()
    assert submitted == [8, 2] and process.ctx.pending == ['b']
    assert len(process._awaitables) == 2
    # One label ends (the 2-atom one); the other still runs: the next step fills the freed slot at once.
    first = next(orm.load_node(int(pk)) for pk, key in process.ctx.launched.items() if key == 'a')
    for label, data in fake_pw_outputs(builder.structures['a']).items():
        data.store().base.links.add_incoming(first, link_type=LinkType.RETURN, link_label=label)
    first.set_process_state(ProcessState.FINISHED)
    first.set_exit_status(0)
    process._awaitables = []  # what the engine does before it calls the next step
    assert process.should_run_batch()
    process.inspect_batch()
    assert process.ctx.successes == ['a']
    process.run_batch()
    assert submitted == [8, 2, 2] and process.ctx.pending == []
    # Awaited again: the 8-atom label still running and the one just launched; never the finished one.
    awaited = sorted(a.pk for a in process._awaitables)
    running = sorted(int(pk) for pk, key in process.ctx.launched.items() if key in ('b', 'c'))
    assert awaited == running and first.pk not in awaited
    assert process.should_run_batch()


def _pw_outputs(structure, energy=-215.0):
    return fake_pw_outputs(structure, energy)


def _process_with_children(builder, statuses, budget=0.25):
    builder.failure_budget = orm.Float(budget)
    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    process.setup()
    children = []
    for key, status in zip(sorted(builder.structures), statuses):
        outputs = _pw_outputs(builder.structures[key]) if status == 0 else {}
        child = finished_workflow(status, outputs, exit_message=None if status == 0 else 'SCF did not converge')
        process.ctx.launched[str(child.pk)] = key
        children.append(child)
    process.ctx.pending = []
    process.inspect_batch()
    return process


def test_failures_within_budget_are_recorded_and_skipped(builder):
    process = _process_with_children(builder, [0, 410], budget=0.5)
    assert process.ctx.successes == ['a']
    assert [f['key'] for f in process.ctx.failures] == ['b']
    assert process.results() is None
    training_set = process.outputs['training_set']
    assert training_set.num_frames == 1
    failures = process.outputs['failures'].get_dict()
    assert failures['num_failed'] == 1
    assert failures['failed'][0]['exit_status'] == 410
    assert failures['failed'][0]['structure_uuid'] == builder.structures['b'].uuid
    # The failed structure never reaches the training set.
    assert builder.structures['b'].uuid not in {f.info['structure_uuid'] for f in training_set.get_frames()}


def test_failures_over_budget_fail_the_work_chain(builder):
    process = _process_with_children(builder, [0, 410], budget=0.25)
    exit_code = process.results()
    assert exit_code.status == LabellingWorkChain.exit_codes.ERROR_FAILURE_BUDGET_EXCEEDED.status
    assert '1 of 2 labels failed' in exit_code.message
    assert 'training_set' not in process.outputs
    assert process.outputs['failures']['num_failed'] == 1


def test_all_failed(builder):
    process = _process_with_children(builder, [410, 300], budget=1.0)
    assert process.results().status == LabellingWorkChain.exit_codes.ERROR_NO_SUCCESSFUL_LABELS.status


@pytest.mark.integration
def test_real_pw_labels_two_atom_si(pw_code, pseudo_families, si_atoms):
    """Real pw.x on 2-atom Si (a few seconds): the training set holds its energy and forces."""
    structures = {'si': orm.StructureData(ase=si_atoms)}
    builder = LabellingWorkChain.get_builder_from_protocol(pw_code, structures, dft=DFTConfig(kpoints_distance=0.5))
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    training_set = results['training_set']
    assert isinstance(training_set, TrainingSetData)
    (frame,) = training_set.get_frames()
    assert frame.get_potential_energy() / 2 == pytest.approx(-107.8, abs=0.1)  # LDA Si.pz-vbc, eV/atom
    assert np.abs(frame.get_forces()).max() < 1e-3  # ideal diamond: no forces by symmetry
    children = node.called
    pw_chain = next(c for c in children if c.process_label == 'PwBaseWorkChain')
    assert pw_chain.is_finished_ok
    assert frame.info['workchain_uuid'] == pw_chain.uuid
    assert results['failures']['num_failed'] == 0


def test_overlapping_atoms_are_recorded_without_running(builder, si_atoms):
    squeezed = si_atoms.copy()
    squeezed.positions[1] = squeezed.positions[0] + [0.005, 0, 0]
    builder.structures = {**builder.structures, 'c': orm.StructureData(ase=squeezed)}
    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    process.setup()
    assert process.ctx.pending == ['a', 'b']
    (failure,) = process.ctx.failures
    assert failure['key'] == 'c' and failure['process_pk'] is None
    assert '0.005 Å apart' in failure['exit_message']


def test_implausible_label_is_a_failure(builder):
    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    process.setup()
    structure = builder.structures['a']
    wild = fake_pw_outputs(structure, energy=45588.0, forces=np.full((2, 3), 1.0e7))
    child = finished_workflow(0, wild)
    process.ctx.launched[str(child.pk)] = 'a'
    process.inspect_batch()
    assert process.ctx.successes == []
    assert 'unphysical label: max |F| 1e+07 eV/Å' in process.ctx.failures[0]['exit_message']


def test_outputs_attached_before_a_kill_are_kept(builder):
    """Exit 11 after a daemon kill, with the outputs linked and the last pw.x finished ok: the label counts."""
    from tests.utils import finished_calcjob

    process = instantiate(LabellingWorkChain, **builder._inputs(prune=True))
    process.setup()
    child = finished_workflow(11, fake_pw_outputs(builder.structures['a']), seal=False)
    finished_calcjob(0, {}, 'aiida.calculations:quantumespresso.pw', caller=(child, 'iteration_01'))
    child.seal()
    process.ctx.launched[str(child.pk)] = 'a'
    process.inspect_batch()
    assert process.ctx.successes == ['a']
