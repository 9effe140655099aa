"""What every config section shares: the pydantic base model and the checks of labels, paths and elements."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ('JOB_CODE', 'Section', 'check_relative_path', 'check_safe_label', 'chemical_symbols', 'job_code_field')

#: Label of the code that runs the stage jobs (screening, selection, uncertainty, extraction): the
#: Python of this package's environment, registered by ``aiida-mlip-autopipe setup``.
JOB_CODE = 'mlip-python@localhost'

_SAFE_LABEL = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@+\-/]*$')
_SHELL_META = set(';&|`$<>()\\"\'*?[]{}!#~\n\r\t ')


def chemical_symbols() -> frozenset[str]:
    """Every element symbol ASE knows (H to Og)."""
    from ase.data import chemical_symbols as symbols

    return frozenset(symbols[1:])


def check_safe_label(value: str, what: str) -> str:
    """Reject labels that would be unsafe in a command line or a file path."""
    bad = sorted({c for c in value if c in _SHELL_META})
    if bad:
        raise ValueError(f'{what} {value!r} contains {"".join(bad)!r}; use letters, digits and _ . @ + - / only')
    if not _SAFE_LABEL.match(value):
        raise ValueError(f'{what} {value!r} must start with a letter or digit')
    return value


def check_relative_path(value: str, what: str = 'path') -> str:
    """Return ``value`` if it is a relative path that stays inside the working folder."""
    bad = sorted({c for c in value if c in _SHELL_META - {'~'}})
    if bad:
        raise ValueError(f'{what} {value!r} contains {"".join(bad)!r}; rename the file')
    pure = PurePosixPath(value)
    if pure.is_absolute() or value.startswith('~'):
        # Absolute paths are allowed for user structure files on the local disk; they
        # never end up inside a calculation folder, only their content does.
        return value
    if '..' in pure.parts:
        raise ValueError(f'{what} {value!r} escapes the working folder with ".."; give a path inside it')
    return value


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment.

    Numbers must be finite: ``.inf`` or ``.nan`` in YAML are errors, not silent extremes.
    """

    model_config = ConfigDict(extra='forbid', validate_assignment=True, frozen=False, allow_inf_nan=False)


def job_code_field(stage: str) -> Any:
    """The ``code`` field of a section whose heavy work runs as a job (a Python with this package installed).

    Pointing it at a code on another computer sends that stage there (a GPU node for a MACE
    screen, a compute node for SOAP over a large pool); validated with :func:`check_safe_label`
    by the section.
    """
    return Field(
        default=JOB_CODE,
        description=f'Label of the AiiDA code that runs the {stage} job: a Python interpreter of an environment '
        'where aiida-mlip-autopipe is installed (default: this one, set up by `aiida-mlip-autopipe setup`).',
    )
