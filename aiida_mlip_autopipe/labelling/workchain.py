"""Label many structures with pw.x: one ``PwBaseWorkChain`` each, ``max_concurrent`` at a time, rolling.

The labels run as a rolling pool (:class:`~aiida_mlip_autopipe.common.rolling.RollingPoolMixin`):
the largest cells start first, and a new label starts as soon as one finishes, so a core never
waits for the slowest label of a batch. Failures are expected in high-throughput DFT; they are
recorded with their exit status and the run fails only when they exceed the failure budget. Only finished-ok labels
reach the training set, so nothing unconverged can be trained on.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import WorkChain, while_
from aiida.plugins import WorkflowFactory

from aiida_mlip_autopipe.common.cleanup import clean_workdir
from aiida_mlip_autopipe.common.rolling import RollingPoolMixin
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.labelling.failures import (
    MIN_DISTANCE,
    implausible_label,
    outputs_survived_a_kill,
    overlap_problem,
    record_failures,
)
from aiida_mlip_autopipe.labelling.pw_inputs import pw_overrides, reference_structure, smearing_bands
from aiida_mlip_autopipe.labelling.training_set import collect_training_set

PwBaseWorkChain = WorkflowFactory('quantumespresso.pw.base')

__all__ = ('LabellingWorkChain',)


class LabellingWorkChain(RollingPoolMixin, WorkChain):
    """Run one ``PwBaseWorkChain`` per structure and collect the successful labels into a training set."""

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.expose_inputs(
            PwBaseWorkChain,
            namespace='dft',
            exclude=('pw.structure', 'clean_workdir'),
            namespace_options={
                'help': 'Template inputs of every PwBaseWorkChain; pseudos keyed by element cover all elements. '
                'Not needed (and unused) when `oracle` is given.',
                # issue 9 (oracle): optional, so a benchmark run with an oracle needs no pw.x code or pseudos.
                'required': False,
                'populate_defaults': False,
            },
        )
        spec.input(
            'oracle',
            valid_type=orm.Str,
            required=False,
            serializer=orm.to_aiida_type,
            help='BENCHMARKS ONLY, NOT DFT: label every structure with this analytic ASE calculator (`emt`) in a '
            'calcfunction instead of a PwBaseWorkChain; the `dft` inputs are then unused.',
        )
        spec.input_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='The structures to label, by key.'
        )
        spec.input(
            'conv_thr_per_atom',
            valid_type=orm.Float,
            required=False,
            serializer=orm.to_aiida_type,
            help='SCF threshold per atom in Ry; conv_thr of each run is this times its number of atoms.',
        )
        spec.input(
            'min_distance',
            valid_type=orm.Float,
            default=lambda: orm.Float(MIN_DISTANCE),
            serializer=orm.to_aiida_type,
            help='Structures with two atoms closer than this (Å, periodic images included) are recorded as '
            'failed without running pw.x; 0 leaves the check to pw.x, which only catches atoms on the same spot.',
        )
        spec.input(
            'max_concurrent',
            valid_type=orm.Int,
            default=lambda: orm.Int(2),
            serializer=orm.to_aiida_type,
            help='PwBaseWorkChains kept running at once (a new one starts as each finishes, largest cells first); '
            'keep at or below the cores of one machine for localhost.',
        )
        spec.input(
            'failure_budget',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.25),
            serializer=orm.to_aiida_type,
            help='Largest tolerated fraction of failed labels before the work chain fails.',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            serializer=orm.to_aiida_type,
            help='Clean the remote folders of all child calculations at the end.',
        )
        spec.inputs.validator = cls.validate_inputs
        spec.outline(
            cls.setup,
            while_(cls.should_run_batch)(
                cls.inspect_batch,
                cls.run_batch,
            ),
            cls.results,
        )
        spec.output('training_set', valid_type=TrainingSetData, help='The successful labels.')
        spec.output('failures', valid_type=orm.Dict, help='Every failed label: structure, process, exit status.')
        spec.exit_code(
            401,
            'ERROR_FAILURE_BUDGET_EXCEEDED',
            message='{failed} of {total} labels failed, more than the failure budget of {budget:.0%}.',
        )
        spec.exit_code(402, 'ERROR_NO_SUCCESSFUL_LABELS', message='None of the {total} labels succeeded.')

    @staticmethod
    def validate_inputs(inputs, ctx=None):
        """Check that there is something to label and that pseudos cover every element."""
        if ctx is not None and 'structures' not in ctx:
            # Exposed in a parent work chain without ``structures``: the parent fills them in later.
            return None
        structures = inputs.get('structures', {})
        if not structures:
            return 'give at least one structure in `structures`'
        # issue 9 (oracle): an oracle replaces pw.x; it must cover every element.
        if inputs.get('oracle') is not None:
            from aiida_mlip_autopipe.labelling.config import check_oracle

            symbols = {kind.symbol for structure in structures.values() for kind in structure.kinds}
            problem = check_oracle(inputs['oracle'].value, symbols)
            if problem is not None:
                return f'oracle: {problem}'
        elif not inputs.get('dft'):
            return 'give the `dft` inputs (template of the PwBaseWorkChains), or an `oracle` for benchmarks'
        pseudos = inputs.get('dft', {}).get('pw', {}).get('pseudos', {})
        symbols = {kind.symbol for structure in structures.values() for kind in structure.kinds}
        missing = sorted(symbols - set(pseudos))
        if missing and inputs.get('oracle') is None:
            return f'dft.pw.pseudos has no pseudopotential for {missing}; give one per element symbol'
        budget = inputs.get('failure_budget')
        if budget is not None and not 0 <= budget.value <= 1:
            return f'failure_budget must be in [0, 1], got {budget.value}'
        if inputs.get('max_concurrent') is not None and inputs['max_concurrent'].value < 1:
            return 'max_concurrent must be at least 1'
        return None

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode | str | None,
        structures: Mapping[str, orm.StructureData],
        dft: Mapping[str, Any] | None = None,
        elements: list[str] | None = None,
        failure_budget: float = 0.25,
        oracle: str | None = None,
        **kwargs: Any,
    ):
        """A builder whose ``dft`` template comes from ``PwBaseWorkChain.get_builder_from_protocol``.

        :param dft: the ``dft`` section of the config (a ``DFTConfig`` or its dict).
        :param elements: elements to prepare pseudos for (default: all in ``structures``).
        :param oracle: the config's ``benchmark.oracle`` (benchmarks only): the builder labels with
            that oracle and has no ``dft`` template, no pw.x code or pseudopotential family is needed.
        """
        from aiida_mlip_autopipe.labelling.config import DFTConfig

        config = DFTConfig.model_validate(dict(dft or {})) if not isinstance(dft, DFTConfig) else dft
        if elements is None:
            elements = sorted({kind.symbol for s in structures.values() for kind in s.kinds})
        if oracle is not None:
            # issue 9 (oracle): benchmarks only; nothing of pw.x is prepared or required.
            from aiida_mlip_autopipe.labelling.config import check_oracle

            problem = check_oracle(oracle, elements)
            if problem is not None:
                raise ValueError(f'benchmark.oracle: {problem}')
            builder = cls.get_builder()
            builder.oracle = orm.Str(oracle)
            builder.structures = dict(structures)
            builder.max_concurrent = orm.Int(config.max_concurrent)
            builder.failure_budget = orm.Float(failure_budget)
            return builder
        if code is None:
            raise ValueError('a pw.x code is needed unless benchmark.oracle is set')
        overrides = pw_overrides(config, elements)
        base = PwBaseWorkChain.get_builder_from_protocol(
            code, reference_structure(elements), protocol=config.protocol, overrides=overrides, **kwargs
        )
        builder = cls.get_builder()
        template = base._inputs(prune=True)
        template.pop('clean_workdir', None)
        template['pw'].pop('structure', None)
        builder.dft = template
        builder.structures = dict(structures)
        builder.conv_thr_per_atom = orm.Float(config.conv_thr_per_atom)
        builder.max_concurrent = orm.Int(config.max_concurrent)
        builder.failure_budget = orm.Float(failure_budget)
        return builder

    def setup(self):
        """Queue every structure, largest first; record those with overlapping atoms as failed without running them.

        pw.x stops only when two atoms sit exactly on the same spot; a pair 0.005 Å apart
        "converges" to a label with forces of 1e7 eV/Å that would poison the training set.
        Large cells go first: started last, a slow label would leave the other cores idle at the end.
        """
        self.ctx.pending = []
        self.ctx.launched = {}
        self.ctx.failures = []
        self.ctx.successes = []
        self.ctx.started = 0
        for key in sorted(self.inputs.structures, key=lambda k: (-len(self.inputs.structures[k].sites), k)):
            structure = self.inputs.structures[key]
            problem = overlap_problem(structure, self.inputs.min_distance.value)
            if problem is None:
                self.ctx.pending.append(key)
                continue
            self._record_failure(key, None, f'not labelled: {problem}')
            self.report(f'{key} not labelled: {problem}')

    def _record_failure(self, key: str, child: orm.ProcessNode | None, message: str) -> None:
        """Record that ``key`` gave no label: its structure, the process that tried (if any) and why."""
        self.ctx.failures.append(
            {
                'key': key,
                'structure_uuid': self.inputs.structures[key].uuid,
                'process_pk': child.pk if child is not None else None,
                'process_uuid': child.uuid if child is not None else None,
                'exit_status': child.exit_status if child is not None else None,
                'exit_message': message,
            }
        )

    def _unsorted(self) -> list[str]:
        """PKs of launched children whose label is neither a success nor a recorded failure yet."""
        done = set(self.ctx.successes) | {f['key'] for f in self.ctx.failures}
        return [pk for pk, key in self.ctx.launched.items() if key not in done]

    def should_run_batch(self):
        """Whether structures remain to be launched or launched labels remain to be sorted."""
        return bool(self.ctx.pending) or bool(self._unsorted())

    def _inputs_for(self, structure: orm.StructureData) -> AttributeDict:
        inputs = AttributeDict(self.exposed_inputs(PwBaseWorkChain, namespace='dft'))
        inputs.pw = AttributeDict(inputs.pw)
        inputs.pw.structure = structure
        template_pseudos = inputs.pw.pseudos
        inputs.pw.pseudos = {kind.name: template_pseudos[kind.symbol] for kind in structure.kinds}
        parameters = copy.deepcopy(inputs.pw.parameters.get_dict())
        magnetization = parameters.get('SYSTEM', {}).get('starting_magnetization')
        if magnetization:
            parameters['SYSTEM']['starting_magnetization'] = {
                kind.name: magnetization[kind.symbol] for kind in structure.kinds if kind.symbol in magnetization
            }
        if 'conv_thr_per_atom' in self.inputs:
            parameters.setdefault('ELECTRONS', {})['conv_thr'] = (
                len(structure.sites) * self.inputs.conv_thr_per_atom.value
            )
        system = parameters.setdefault('SYSTEM', {})
        if system.get('occupations') == 'smearing' and 'nbnd' not in system:
            system['nbnd'] = smearing_bands(structure, inputs.pw.pseudos)
        inputs.pw.parameters = orm.Dict(parameters)
        inputs.clean_workdir = self.inputs.clean_workdir
        return inputs

    def run_batch(self):
        """Fill the free slots with the next labels (largest first); await everything still running."""
        if 'oracle' in self.inputs:
            return self._run_oracle_batch()
        running = self.await_running(self._unsorted())
        slots = self.inputs.max_concurrent.value - len(running)
        total = len(self.inputs.structures)
        for _ in range(max(0, slots)):
            if not self.ctx.pending:
                break
            key = self.ctx.pending.pop(0)
            structure = self.inputs.structures[key]
            inputs = self._inputs_for(structure)
            inputs.metadata = {'call_link_label': f'label_{key}'}
            node = self.submit(PwBaseWorkChain, **inputs)
            self.ctx.launched[str(node.pk)] = key
            self.ctx.started += 1
            self.await_running([node.pk])
            self.report(
                f'launching PwBaseWorkChain<{node.pk}> for {key} ({structure.get_formula()}, {len(structure.sites)} '
                f'atoms): {self.ctx.started}/{total} started'
            )

    def _run_oracle_batch(self) -> None:
        """Label everything pending with the benchmark oracle, one calcfunction per structure (issue 9).

        The calcfunctions run inline (milliseconds each) and are recorded in ``ctx.launched``
        like the PwBaseWorkChains, so ``inspect_batch``, the failure budget and ``results``
        treat both the same way.
        """
        from aiida_mlip_autopipe.labelling.oracle import label_with_oracle

        batch, self.ctx.pending = self.ctx.pending, []
        oracle = self.inputs.oracle
        pks = []
        for key in batch:
            _, node = label_with_oracle.run_get_node(
                structure=self.inputs.structures[key], calculator=oracle, metadata={'call_link_label': f'label_{key}'}
            )
            self.ctx.launched[str(node.pk)] = key
            pks.append(node.pk)
        if not pks:
            return
        shown = f'{pks[0]}..{pks[-1]}' if len(pks) > 1 else str(pks[0])
        self.report(
            f'{len(batch)} structures labelled by the benchmark oracle '
            f'{oracle.value!r} (NOT DFT), label_with_oracle<{shown}>'
        )

    def inspect_batch(self):
        """Sort the children that have terminated into successes and recorded failures."""
        for pk in self._unsorted():
            child = orm.load_node(int(pk))
            if not child.is_terminated:
                continue
            key = self.ctx.launched[pk]
            outputs = child.outputs if child.is_finished_ok or outputs_survived_a_kill(child) else None
            complete = outputs is not None and 'output_parameters' in outputs and 'output_trajectory' in outputs
            problem = implausible_label(outputs) if complete else None
            if complete and problem is None:
                self.ctx.successes.append(key)
                continue
            self._record_failure(
                key,
                child,
                problem or child.exit_message or ('excepted or killed' if child.is_excepted or child.is_killed else ''),
            )
            self.report(
                f'{child.process_label}<{child.pk}> for {key} failed [{child.exit_status}]: {child.exit_message}'
            )

    def results(self):
        """Collect successful labels, record failures and apply the failure budget."""
        total = len(self.inputs.structures)
        failed = len(self.ctx.failures)
        failed_structures = {
            f'structure_{i}': self.inputs.structures[f['key']] for i, f in enumerate(self.ctx.failures)
        }
        record = record_failures(
            orm.Dict({'failed': self.ctx.failures, 'num_total': total}),
            **failed_structures,
            metadata={'call_link_label': 'record_failures'},
        )
        self.out('failures', record)
        budget = self.inputs.failure_budget.value
        if not self.ctx.successes:
            return self.exit_codes.ERROR_NO_SUCCESSFUL_LABELS.format(total=total)
        if failed > budget * total:
            return self.exit_codes.ERROR_FAILURE_BUDGET_EXCEEDED.format(failed=failed, total=total, budget=budget)
        labels = {}
        by_key = {key: pk for pk, key in self.ctx.launched.items()}
        for i, key in enumerate(sorted(self.ctx.successes)):
            child = orm.load_node(int(by_key[key]))
            labels[f'structure_{i}'] = self.inputs.structures[key]
            labels[f'parameters_{i}'] = child.outputs.output_parameters
            labels[f'trajectory_{i}'] = child.outputs.output_trajectory
        training_set = collect_training_set(**labels, metadata={'call_link_label': 'collect_training_set'})
        self.out('training_set', training_set)
        self.report(
            f'{len(self.ctx.successes)}/{total} labels succeeded, {failed} failed; training set<{training_set.pk}>'
        )
        return None

    def on_terminated(self):
        """Clean the remote folders of the children if ``clean_workdir`` is set."""
        super().on_terminated()
        clean_workdir(self)
