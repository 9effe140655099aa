"""One line per pydantic error, for the ``settings`` validators of the CalcJobs.

A CalcJob's ``settings`` ``Dict`` is checked against a pydantic model before anything is
submitted; the validator must return one string, so each error becomes
``dotted.field: message``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ('validation_messages',)


def validation_messages(error: ValidationError, root: str | None = None, top: str = '<settings>') -> list[str]:
    """``'field.path: message'`` for every error of ``error``.

    :param root: prefix of every path (``settings`` gives ``settings.n_steps: ...``); a
        model-wide error is then named by ``root`` alone.
    :param top: without ``root``, the name of a model-wide error (no field in its location).
    """
    lines = []
    for item in error.errors(include_url=False):
        dotted = '.'.join(str(part) for part in item['loc'])
        where = '.'.join(part for part in (root, dotted) if part) or top
        lines.append(f'{where}: {item["msg"]}')
    return lines
