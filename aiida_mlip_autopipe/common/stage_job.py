"""Heavy stage work as a CalcJob: screening, selection, pool scoring, calibration, extraction.

These steps load ML models (MACE, CHGNet, pyace) or compute descriptors over large pools.
Run inline as calcfunctions they block the daemon worker for as long as they take, hold
its memory, cannot use a GPU or a compute node, and are run again from the start if the
worker dies half-way. As jobs they are ordinary calculations: the daemon submits them and
polls, they run on whatever computer their code is on, a finished job is never rerun after
a restart, and their inputs and outputs are nodes exactly as the calcfunctions' were.

A :class:`StageCalculation` writes ``task.json`` (the ``settings`` and the names of the
other files) and the ``structures`` namespace as one extended-XYZ file, and runs
``python -m <TASK_MODULE> task.json`` with the stage's code (a Python interpreter of an
environment where this package is installed: ``mlip-python@localhost`` after
``aiida-mlip-autopipe setup``). The task module (see :mod:`aiida_mlip_autopipe.common.task`)
writes ``result.json``; a :class:`StageParser` checks it and makes the output nodes.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aiida import orm
from aiida.common import datastructures
from aiida.common.links import LinkType
from aiida.engine import CalcJob, CalcJobProcessSpec, ExitCode
from aiida.parsers import Parser

from aiida_mlip_autopipe.common.task import FILENAME_RESULT, FILENAME_STRUCTURES, FILENAME_TASK, write_structures

__all__ = ('StageCalculation', 'StageParser', 'copy_file', 'copy_folder', 'input_structures', 'output_structures')


class StageCalculation(CalcJob):
    """Base of the stage jobs; subclasses set ``TASK_MODULE`` and add their inputs, files and outputs."""

    #: Module run as ``python -m TASK_MODULE task.json``; it calls :func:`~aiida_mlip_autopipe.common.task.run_task`.
    TASK_MODULE: ClassVar[str] = ''
    FILENAME_STDOUT = 'job.out'
    FILENAME_STDERR = 'job.err'
    #: Further files the parser reads (beyond result.json and the job's stdout/stderr).
    RETRIEVE_EXTRA: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """Settings, structures, the one-process default resources and the exit codes every stage job shares."""
        super().define(spec)
        spec.input('settings', valid_type=orm.Dict, help='The stage settings the job computes with.')
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Structures by key; the job sees them as structures.extxyz, each frame tagged with its key.',
        )
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.exit_code(
            300,
            'ERROR_NO_RESULT',
            invalidates_cache=True,
            message='The job wrote no result.json: it was killed or crashed before the end (see job.err).',
        )
        spec.exit_code(
            301, 'ERROR_INVALID_RESULT', invalidates_cache=True, message='result.json cannot be read: {error}.'
        )
        spec.exit_code(
            302,
            'ERROR_INCOMPLETE_RESULT',
            invalidates_cache=True,
            message='result.json lacks what the stage needs: {error}.',
        )
        spec.exit_code(400, 'ERROR_TASK_FAILED', invalidates_cache=True, message='The job failed: {error}.')

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """Write the subclass's input files into ``folder``; return what to add to ``task.json``."""
        return {}

    def prepare_for_submission(self, folder: Any) -> datastructures.CalcInfo:
        """``task.json``, ``structures.extxyz`` and the subclass files; one ``python -m`` command."""
        if not self.TASK_MODULE:
            raise NotImplementedError(f'{type(self).__name__} sets no TASK_MODULE')
        task: dict[str, Any] = {'settings': self.inputs.settings.get_dict() if 'settings' in self.inputs else {}}
        structures = dict(self.inputs.get('structures', {}) or {})
        if structures:
            write_structures(
                folder.get_abs_path(FILENAME_STRUCTURES),
                {key: node.get_ase() for key, node in sorted(structures.items())},
            )
            task['structures'] = FILENAME_STRUCTURES
        task.update(self.write_inputs(folder))
        with folder.open(FILENAME_TASK, 'w', encoding='utf-8') as handle:
            json.dump(task, handle, indent=1, sort_keys=True)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = ['-m', self.TASK_MODULE, FILENAME_TASK]
        codeinfo.stdout_name = self.FILENAME_STDOUT
        codeinfo.stderr_name = self.FILENAME_STDERR

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [FILENAME_RESULT, self.FILENAME_STDOUT, self.FILENAME_STDERR, *self.RETRIEVE_EXTRA]
        return calcinfo


def copy_file(node: orm.SinglefileData, folder: Any, filename: str) -> str:
    """Copy the file of ``node`` into the job folder as ``filename``; return ``filename``."""
    with node.open(mode='rb') as source, folder.open(filename, 'wb') as target:
        target.write(source.read())
    return filename


def copy_folder(node: orm.FolderData, folder: Any, name: str) -> str:
    """Copy the top-level files of ``node`` (e.g. a potential's yaml, yace, asi) into the subfolder ``name``."""
    target = folder.get_subfolder(name, create=True)
    for filename in node.base.repository.list_object_names():
        with node.base.repository.open(filename, mode='rb') as source, target.open(filename, 'wb') as handle:
            handle.write(source.read())
    return name


def _namespace(links: Any, namespace: str) -> dict[str, Any]:
    prefix = f'{namespace}__'
    return dict(
        sorted(
            (link.link_label[len(prefix) :], link.node) for link in links.all() if link.link_label.startswith(prefix)
        )
    )


def input_structures(node: orm.ProcessNode, namespace: str = 'structures') -> dict[str, orm.StructureData]:
    """The inputs of ``node`` in ``namespace``, by key (link labels ``namespace__key``)."""
    return _namespace(node.base.links.get_incoming(link_type=(LinkType.INPUT_CALC, LinkType.INPUT_WORK)), namespace)


def output_structures(node: orm.ProcessNode, namespace: str = 'structures') -> dict[str, orm.StructureData]:
    """The outputs of ``node`` in ``namespace``, by key (``{}`` when it made none)."""
    return _namespace(node.base.links.get_outgoing(link_type=(LinkType.CREATE, LinkType.RETURN)), namespace)


class StageParser(Parser):
    """Read ``result.json``; a job error becomes ``ERROR_TASK_FAILED`` with its message; subclasses make the outputs."""

    #: Keys ``result.json`` must have for :meth:`parse_result`.
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def parse(self, **kwargs: Any) -> ExitCode | None:
        """Check the result file, then hand it to :meth:`parse_result`."""
        names = self.retrieved.base.repository.list_object_names()
        if FILENAME_RESULT not in names:
            return self.exit_codes.ERROR_NO_RESULT
        try:
            result = json.loads(self.retrieved.base.repository.get_object_content(FILENAME_RESULT))
        except ValueError as exc:
            return self.exit_codes.ERROR_INVALID_RESULT.format(error=str(exc))
        if not isinstance(result, dict):
            return self.exit_codes.ERROR_INVALID_RESULT.format(error=f'a {type(result).__name__}, not an object')
        if result.get('error'):
            self.logger.error(result.get('traceback') or result['error'])
            return self.exit_codes.ERROR_TASK_FAILED.format(error=result['error'])
        missing = [key for key in self.REQUIRED if key not in result]
        if missing:
            return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error=f'no {", ".join(missing)}')
        return self.parse_result(result)

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """Make the output nodes from a successful ``result``."""
        raise NotImplementedError
