"""Failed children for handler tests: a CalcJobNode whose outputs the real parser made from stored real outputs.

As aiida-quantumespresso tests ``PwBaseWorkChain``'s handlers, a work chain is instantiated, its
``ctx.children`` faked, a handler called and its decision asserted. Here the child is not
hand-made: its ``retrieved`` folder holds the files of a real failed run (``tests/fixtures/<code>/<case>``),
the calculation's own parser reads them, and the node gets the outputs and the exit status that
parser returned, exactly as the engine would have set them.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiida import orm
from aiida.common.links import LinkType
from plumpy import ProcessState


def parsed_child(
    entry_point: str,
    calculation: Any,
    parser_class: Any,
    folder: Path,
    computer: orm.Computer,
    inputs: dict[str, orm.Data] | None = None,
    scheduler_exit_status: int | None = None,
    caller: orm.WorkflowNode | None = None,
) -> orm.CalcJobNode:
    """A finished, sealed ``CalcJobNode`` of ``calculation`` with the outputs ``parser_class`` made from ``folder``.

    ``entry_point`` is the calculation's (its process type).

    Files matching ``calculation``'s temporary retrieve list are handed to the parser as the
    temporary folder, every other file is in ``retrieved``. ``scheduler_exit_status`` is set
    on the node before parsing, as ``CalcJob.parse`` does when a scheduler reported one (120:
    out of walltime).
    """
    node = orm.CalcJobNode(computer=computer, process_type=f'aiida.calculations:{entry_point}')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.set_process_label(calculation.__name__)
    for label, data in (inputs or {}).items():
        if not data.is_stored:
            data.store()
        node.base.links.add_incoming(data, link_type=LinkType.INPUT_CALC, link_label=label)
    if caller is not None:
        node.base.links.add_incoming(caller, link_type=LinkType.CALL_CALC, link_label='iteration_01')
    node.store()
    temporary_patterns = calculation.RETRIEVE_TEMPORARY_LIST if hasattr(calculation, 'RETRIEVE_TEMPORARY_LIST') else []
    temporary_patterns = list(temporary_patterns) or [getattr(calculation, 'FILENAME_DUMP', '')]
    retrieved = orm.FolderData()
    temporary = Path(tempfile.mkdtemp())
    for path in sorted(folder.iterdir()):
        if path.name in ('README.md', 'settings.json', 'input.lammps', 'structure.data'):
            continue
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in temporary_patterns if pattern):
            shutil.copy(path, temporary / path.name)
        else:
            retrieved.base.repository.put_object_from_file(str(path), path.name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    if scheduler_exit_status is not None:
        node.set_exit_status(scheduler_exit_status)
    parser = parser_class(node)
    exit_code = parser.parse(retrieved_temporary_folder=str(temporary))
    shutil.rmtree(temporary, ignore_errors=True)
    for label, data in parser.outputs.items():
        data.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=label)
        data.store()
    node.set_process_state(ProcessState.FINISHED)
    status = exit_code.status if exit_code is not None else (scheduler_exit_status or 0)
    node.set_exit_status(status)
    if exit_code is not None and exit_code.message:
        node.set_exit_message(exit_code.message)
    node.seal()
    return node


def report_lines(process: Any) -> list[str]:
    """What ``verdi process report`` shows for ``process``: its log messages, oldest first."""
    return [log.message for log in orm.Log.collection.get_logs_for(process.node)]
