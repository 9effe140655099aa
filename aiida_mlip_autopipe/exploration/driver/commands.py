"""The vocabulary of ``mlip-autopipe-lammps``: reserved names, supported and refused commands, the reader.

The styles it runs exactly as LAMMPS would, the commands it refuses (with a hint), and
the reader that turns an input file into commands with their line numbers.
"""

from __future__ import annotations

import shlex

__all__ = (
    'COMPUTE_STYLES',
    'DUMP_STYLES',
    'FIX_STYLES',
    'PASS_THROUGH',
    'REFUSED_HINTS',
    'VARIABLE_STYLES',
    'DriverError',
    'UnsupportedCommand',
    'read_script',
    'split_words',
)

PREFIX = 'mlip-autopipe-lammps'
FIX_EXTERNAL = 'mlip_ace'
GAMMA_PROPERTY = 'mlip_gamma'
ERROR_VARIABLE = 'mlip_driver_error'
FIX_GUARD = 'mlip_driver_guard'

PASS_THROUGH = frozenset(
    {
        'atom_modify',
        'read_data',
        'lattice',
        'region',
        'create_box',
        'create_atoms',
        'replicate',
        'displace_atoms',
        'change_box',
        'delete_atoms',
        'group',
        'set',
        'mass',
        'velocity',
        'neighbor',
        'neigh_modify',
        'timestep',
        'reset_timestep',
        'thermo',
        'thermo_style',
        'thermo_modify',
        'dump_modify',
        'undump',
        'unfix',
        'uncompute',
        'print',
        'write_data',
        'write_dump',
        'run',
        'minimize',
        'min_style',
        'min_modify',
        'echo',
    }
)
FIX_STYLES = frozenset(
    {
        'nve',
        'nvt',
        'npt',
        'nph',
        'langevin',
        'temp/berendsen',
        'temp/rescale',
        'temp/csvr',
        'temp/csld',
        'press/berendsen',
        'momentum',
        'recenter',
        'halt',
        'print',
        'ave/time',
        'setforce',
        'deform',
        'dt/reset',
        'spring/self',
    }
)
COMPUTE_STYLES = frozenset(
    {
        'reduce',
        'temp',
        'pe',
        'ke',
        'pressure',
        'msd',
        'rdf',
        'ke/atom',
        'displace/atom',
        'coord/atom',
        'cna/atom',
        'centro/atom',
        'property/atom',
    }
)
VARIABLE_STYLES = frozenset({'equal', 'atom', 'string', 'index', 'internal', 'vector', 'format', 'getenv'})
DUMP_STYLES = frozenset({'custom', 'atom', 'xyz'})
REFUSED_HINTS = {
    'include': 'put the included commands into the input file',
    'jump': 'loops and jumps are not supported; unroll them',
    'label': 'loops and jumps are not supported; unroll them',
    'next': 'loops and jumps are not supported; unroll them',
    'if': 'conditionals are not supported',
    'shell': 'shell commands are not supported',
    'python': 'the PYTHON package is not in this LAMMPS',
    'log': 'the run writes one log, given with -log',
    'package': 'accelerator packages are not supported',
    'suffix': 'accelerator suffixes are not supported',
    'newton': 'leave the newton setting at its default',
    'processors': 'runs are serial',
    'pair_modify': 'pair_style pace takes no pair_modify',
    'clear': 'one simulation per input',
}


class DriverError(RuntimeError):
    """A problem that stops the driver (bad command line, missing potential file)."""


class UnsupportedCommand(DriverError):
    """An input command the driver cannot run the way LAMMPS with ML-PACE would."""

    def __init__(self, line_number: int, command: str, reason: str):
        self.line_number = line_number
        self.command = command
        self.reason = reason
        super().__init__(f'unsupported input at line {line_number}: {command!r}: {reason}')


def read_script(text: str) -> list[tuple[int, str]]:
    """Commands of a LAMMPS input as ``(line number, command)``: comments cut, ``&`` lines joined.

    ``#`` starts a comment outside quotes, as in LAMMPS. Triple-quoted strings are refused
    (they can span lines in ways this reader does not follow).
    """
    commands: list[tuple[int, str]] = []
    pending = ''
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if '"""' in raw:
            raise UnsupportedCommand(number, raw.strip(), 'triple-quoted strings are not supported')
        line = _strip_comment(raw).rstrip()
        if not pending:
            start = number
        if line.endswith('&'):
            pending += line[:-1] + ' '
            continue
        line = (pending + line).strip()
        pending = ''
        if line:
            commands.append((start, line))
    if pending.strip():
        commands.append((start, pending.strip()))
    return commands


def _strip_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in '"\'':
            quote = char
        elif char == '#':
            return line[:i]
    return line


def split_words(number: int, command: str) -> list[str]:
    """The shell-like words of ``command`` (quotes kept together), or :class:`UnsupportedCommand`."""
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError as exc:
        raise UnsupportedCommand(number, command, f'cannot split into words: {exc}') from None
