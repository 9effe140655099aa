"""Remote-folder clean-up shared by the work chains (``clean_workdir``).

Clean-up must never turn a finished run into a failed one, so no exception leaves
:func:`clean_remote_folders`; but a folder that could not be emptied still holds the run's
scratch files (often gigabytes of wavefunctions), and the user has to know which one and
why. Each failure is returned and :func:`clean_workdir` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiida import orm

__all__ = ('CleanupFailure', 'CleanupResult', 'clean_remote_folders', 'clean_workdir')


@dataclass(frozen=True)
class CleanupFailure:
    """A remote folder that was not emptied: the calculation, the folder and the reason."""

    pk: int
    process_label: str
    computer: str
    path: str
    reason: str

    def line(self) -> str:
        """The report line: which folder and why."""
        return (
            f'could not clean the remote folder of {self.process_label}<{self.pk}> '
            f'({self.path} on {self.computer}): {self.reason}'
        )


@dataclass
class CleanupResult:
    """PKs of the calculations whose folders were emptied, and every folder that was not."""

    cleaned: list[int] = field(default_factory=list)
    failed: list[CleanupFailure] = field(default_factory=list)


def _remote_of(called: orm.CalcJobNode) -> orm.RemoteData | None:
    try:
        return called.outputs.remote_folder
    except (AttributeError, KeyError):  # no remote folder: the job never reached the computer
        return None


def clean_remote_folders(node: orm.WorkflowNode) -> CleanupResult:
    """Empty the remote folders of every calculation job called below ``node``.

    A calculation without a ``remote_folder`` (it never reached the computer) has nothing to
    clean and is skipped. Every other problem — the computer is not configured, the transport
    cannot connect, the folder is still there after the removal — is a :class:`CleanupFailure`
    in the result, never an exception.
    """
    result = CleanupResult()
    for called in node.called_descendants:
        if not isinstance(called, orm.CalcJobNode):
            continue
        remote = _remote_of(called)
        if remote is None:
            continue
        label = called.process_label or 'CalcJob'
        computer = remote.computer.label if remote.computer is not None else '(no computer)'
        path = remote.get_remote_path()
        try:
            with remote.computer.get_authinfo(remote.user).get_transport() as transport:
                remote._clean(transport=transport)
                if transport.path_exists(path):
                    left = transport.listdir(path)
                    if left:
                        raise OSError(f'{len(left)} entries are still there after the removal, e.g. {left[0]!r}')
        except Exception as exc:  # reported, never raised (see the module docstring)
            reason = f'{type(exc).__name__}: {exc}'.strip()
            result.failed.append(CleanupFailure(called.pk, label, computer, path, reason[:300]))
            continue
        result.cleaned.append(called.pk)
    return result


def clean_workdir(process: Any) -> CleanupResult | None:
    """What a work chain's ``on_terminated`` does: clean its calculations' folders if ``clean_workdir`` is set.

    The report says which folders were cleaned and, one line each, which were not and why.
    """
    if not process.inputs.clean_workdir.value:
        return None
    result = clean_remote_folders(process.node)
    if result.cleaned:
        process.report(f'cleaned remote folders of calculations: {" ".join(map(str, result.cleaned))}')
    for failure in result.failed:
        process.report(failure.line())
    return result
