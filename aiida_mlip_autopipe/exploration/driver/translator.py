"""Translation of an ML-PACE input into commands for a LAMMPS without ML-PACE, checked line by line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiida_mlip_autopipe.exploration.driver.commands import (
    COMPUTE_STYLES,
    DUMP_STYLES,
    ERROR_VARIABLE,
    FIX_EXTERNAL,
    FIX_GUARD,
    FIX_STYLES,
    GAMMA_PROPERTY,
    PASS_THROUGH,
    PREFIX,
    REFUSED_HINTS,
    VARIABLE_STYLES,
    UnsupportedCommand,
    split_words,
)

__all__ = ('InputTranslator', 'PotentialSpec')


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
        words = split_words(number, command)
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
