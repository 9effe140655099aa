"""Remote-folder clean-up shared by the work chains (``clean_workdir``)."""

from __future__ import annotations

from typing import Any

from aiida import orm

__all__ = ('clean_remote_folders', 'clean_workdir')


def clean_remote_folders(node: orm.WorkflowNode) -> list[int]:
    """Empty the remote folders of every calculation job called below ``node``; return their PKs.

    Folders that are already gone or unreachable are skipped: clean-up must never turn a
    finished run into a failed one.
    """
    cleaned = []
    for called in node.called_descendants:
        if isinstance(called, orm.CalcJobNode):
            try:
                called.outputs.remote_folder._clean()
                cleaned.append(called.pk)
            except (OSError, KeyError, AttributeError):
                pass
    return cleaned


def clean_workdir(process: Any) -> None:
    """What a work chain's ``on_terminated`` does: clean its calculations' folders if ``clean_workdir`` is set."""
    if not process.inputs.clean_workdir.value:
        return
    cleaned = clean_remote_folders(process.node)
    if cleaned:
        process.report(f'cleaned remote folders of calculations: {" ".join(map(str, cleaned))}')
