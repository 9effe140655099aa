"""``dft.parameters`` checked as strictly as the typed fields of the ``dft`` section.

Every key must be a pw.x variable of its namelist (:mod:`~aiida_mlip_autopipe.labelling.pw_variables`,
from Quantum ESPRESSO's own input documentation), of the right type, and for the common ones in a
sane range. Refused outright, with what to do instead:

- keys that name a file, a folder or a restart from files (``outdir``, ``pseudo_dir``, ``wfcdir``,
  ``prefix``, ``vdw_table_name``, ``restart_mode``, ``startingwfc = 'file'``...): AiiDA owns the run
  folder and the pseudopotentials, and a label must not depend on files outside its provenance;
- keys a typed field of the section sets (``ecutwfc`` → ``dft.ecutwfc``, ``conv_thr`` →
  ``dft.conv_thr_per_atom``...): the typed field is checked against the pseudopotential family
  and recorded with every label, a pass-through copy would silently win over it;
- keys AiiDA sets from the structure or the scheduler (``nat``, ``celldm``, ``max_seconds``...);
- ``input_dft``: it would override the functional the pseudopotentials were made for, and the
  labels' provenance names the family; choose a family of the functional instead.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from aiida_mlip_autopipe.labelling.pw_variables import NAMELIST_VARIABLES, QE_VERSIONS

__all__ = ('check_pw_parameters',)

#: Keys that name files, folders or restarts from files, and why each is refused.
FILE_KEYS: dict[tuple[str, str], str] = {
    ('CONTROL', 'outdir'): 'it is set by AiiDA, which owns the scratch folder of every run',
    ('CONTROL', 'wfcdir'): 'it is set by AiiDA, which owns the scratch folder of every run',
    ('CONTROL', 'pseudo_dir'): 'it is set by AiiDA, which copies the pseudopotentials of dft.pseudo_family in',
    ('CONTROL', 'prefix'): 'it is set by AiiDA, which names the files of the run',
    ('CONTROL', 'restart_mode'): 'a label starts from scratch; PwBaseWorkChain restarts a run itself',
    ('CONTROL', 'lkpoint_dir'): 'it is obsolete (no longer implemented)',
    ('CONTROL', 'wf_collect'): 'it is obsolete (no longer implemented)',
    ('SYSTEM', 'vdw_table_name'): 'it names a kernel table file outside the provenance of the label',
    ('SYSTEM', 'dmft_prefix'): 'it names files of a previous DMFT run',
}
#: Values that read files.
FILE_VALUES: dict[tuple[str, str], str] = {
    ('ELECTRONS', 'startingwfc'): 'file',
    ('ELECTRONS', 'startingpot'): 'file',
}
#: Keys a typed field of the ``dft`` section sets.
TYPED_FIELDS: dict[tuple[str, str], str] = {
    ('SYSTEM', 'ecutwfc'): 'dft.ecutwfc',
    ('SYSTEM', 'ecutrho'): 'dft.ecutrho',
    ('SYSTEM', 'smearing'): 'dft.smearing',
    ('SYSTEM', 'degauss'): 'dft.degauss',
    ('SYSTEM', 'nspin'): 'dft.spin_polarised',
    ('SYSTEM', 'starting_magnetization'): 'dft.starting_magnetization',
    ('ELECTRONS', 'conv_thr'): 'dft.conv_thr_per_atom (conv_thr is that times the number of atoms of each label)',
    ('ELECTRONS', 'electron_maxstep'): 'dft.electron_maxstep',
}
#: Keys AiiDA or the labelling sets from the structure, the scheduler or the kind of structure.
SET_BY_AIIDA: dict[tuple[str, str], str] = {
    **{('SYSTEM', key): 'is set by AiiDA from the structure' for key in ('nat', 'ntyp', 'ibrav', 'celldm')},
    **{('SYSTEM', key): 'is set by AiiDA from the structure' for key in ('A', 'B', 'C', 'cosAB', 'cosAC', 'cosBC')},
    ('CONTROL', 'max_seconds'): 'is set by AiiDA from dft.max_wallclock_seconds',
    ('SYSTEM', 'assume_isolated'): "is set by the labelling per structure kind (molecules: 'mt', others: none)",
    ('SYSTEM', 'input_dft'): 'would override the functional of the pseudopotentials; choose a '
    'dft.pseudo_family of the functional you want (the labels record the family)',
}
#: Values a label must keep.
REQUIRED: dict[tuple[str, str], tuple[Any, str]] = {
    ('CONTROL', 'calculation'): ('scf', "labels are single-point 'scf' runs"),
    ('CONTROL', 'tprnfor'): (True, 'labels need forces'),
    ('CONTROL', 'tstress'): (True, 'labels need forces and stress'),
}
#: Occupations a label cannot use, and why.
OCCUPATIONS_REFUSED = {
    'from_input': 'it needs an OCCUPATIONS card, which the labelling does not write',
    'tetrahedra': 'tetrahedron occupations are not variational: forces would not match the energies',
    'tetrahedra_lin': 'tetrahedron occupations are not variational: forces would not match the energies',
    'tetrahedra_opt': 'tetrahedron occupations are not variational: forces would not match the energies',
}
#: Sane ranges of the common numeric keys: ``(low, high, low inclusive, high inclusive)``.
RANGES: dict[tuple[str, str], tuple[float, float, bool, bool]] = {
    ('SYSTEM', 'nbnd'): (1, 100_000, True, True),
    ('SYSTEM', 'tot_charge'): (-20, 20, True, True),
    ('SYSTEM', 'tot_magnetization'): (-1, 1000, True, True),
    ('SYSTEM', 'ecutfock'): (0, 4000, False, True),
    ('SYSTEM', 'nqx1'): (1, 100, True, True),
    ('SYSTEM', 'nqx2'): (1, 100, True, True),
    ('SYSTEM', 'nqx3'): (1, 100, True, True),
    ('SYSTEM', 'exx_fraction'): (0, 1, True, True),
    ('ELECTRONS', 'mixing_beta'): (0, 1, False, True),
    ('ELECTRONS', 'mixing_ndim'): (1, 50, True, True),
    ('ELECTRONS', 'mixing_fixed_ns'): (0, 1000, True, True),
    ('ELECTRONS', 'diago_thr_init'): (0, 1e-2, False, True),
    ('ELECTRONS', 'diago_david_ndim'): (2, 64, True, True),
    ('ELECTRONS', 'diago_cg_maxiter'): (1, 10_000, True, True),
    ('CONTROL', 'nstep'): (1, 1000, True, True),  # 0 is a dry run: no label
    ('CONTROL', 'iprint'): (1, 1_000_000, True, True),
    ('CONTROL', 'etot_conv_thr'): (0, 1, False, True),
    ('CONTROL', 'forc_conv_thr'): (0, 1, False, True),
}
_PYTHON_TYPES = {'CHARACTER': 'a string', 'LOGICAL': 'true or false', 'INTEGER': 'an integer', 'REAL': 'a number'}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == 'CHARACTER':
        return isinstance(value, str)
    if kind == 'LOGICAL':
        return isinstance(value, bool)
    if kind == 'INTEGER':
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == 'REAL':
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return True


def _value_problems(where: str, value: Any, kind: str, options: tuple[str, ...]) -> list[str]:
    if not _type_ok(value, kind):
        return [f'{where} = {value!r} must be {_PYTHON_TYPES.get(kind, kind)} (pw.x type {kind})']
    if kind == 'CHARACTER' and options and value.lower() not in {o.lower() for o in options}:
        return [f'{where} = {value!r} is not a pw.x option; allowed: {", ".join(options)}']
    return []


def _key_problems(namelist: str, key: str, value: Any) -> list[str]:
    where = f'{namelist}.{key}'
    variables = NAMELIST_VARIABLES[namelist]
    found = next((name for name in variables if name.lower() == key.lower()), None)
    if found is None:
        if '(' in key:
            name = key.split('(')[0]
            return [f'{where}: give indexed variables as a mapping by species, e.g. {{{name}: {{Si: 0.5}}}}']
        elsewhere = [nl for nl, names in NAMELIST_VARIABLES.items() if key.lower() in {n.lower() for n in names}]
        if elsewhere:
            return [f'{where}: {key} belongs to namelist {elsewhere[0]}; move it there']
        close = difflib.get_close_matches(key, list(variables), n=1, cutoff=0.7)
        hint = f"; did you mean '{close[0]}'?" if close else '; check the spelling in INPUT_PW or remove it'
        versions = f'Quantum ESPRESSO {QE_VERSIONS[0]}-{QE_VERSIONS[-1]}'
        return [f'{where}: no such pw.x variable in {namelist} ({versions}){hint}']
    spec = variables[found]
    ident = (namelist, found)
    if ident in FILE_KEYS:
        return [f'{where} names a file or folder: {FILE_KEYS[ident]}; remove it']
    if ident in TYPED_FIELDS:
        return [f'{where} is set by {TYPED_FIELDS[ident]}; give it there and remove it from dft.parameters']
    if ident in SET_BY_AIIDA:
        return [f'{where} {SET_BY_AIIDA[ident]}; remove it']
    if ident in REQUIRED:
        required, why = REQUIRED[ident]
        if value != required:
            return [f'{where} = {value!r}: {why}; remove it']
        return []
    if spec.indexed:
        values = list(value.values()) if isinstance(value, Mapping) else (value if isinstance(value, list) else None)
        if values is None:
            return [f'{where} is indexed (per species or manifold): give a mapping like {{Si: ...}} or a list']
        problems = []
        for item in values:
            problems += _value_problems(where, item, spec.type, spec.options)
        return problems[:1]
    problems = _value_problems(where, value, spec.type, spec.options)
    if problems:
        return problems
    if ident in FILE_VALUES and str(value).lower() == FILE_VALUES[ident]:
        return [f"{where} = {value!r} reads files of a previous run; use 'atomic+random' or leave it unset"]
    if ident == ('SYSTEM', 'occupations') and value.lower() in OCCUPATIONS_REFUSED:
        return [f"{where} = {value!r}: {OCCUPATIONS_REFUSED[value.lower()]}; use 'smearing' (default) or 'fixed'"]
    if ident in RANGES:
        low, high, low_in, high_in = RANGES[ident]
        above = value >= low if low_in else value > low
        below = value <= high if high_in else value < high
        if not (above and below):
            interval = f'{"[" if low_in else "("}{low:g}, {high:g}{"]" if high_in else ")"}'
            return [f'{where} = {value!r} is outside {interval}']
    return []


def check_pw_parameters(parameters: Mapping[str, Any]) -> list[str]:
    """Every problem of ``dft.parameters`` (``{NAMELIST: {key: value}}``), each naming ``NAMELIST.key`` and the fix."""
    problems: list[str] = []
    for namelist, keys in parameters.items():
        if namelist not in NAMELIST_VARIABLES or not isinstance(keys, Mapping):
            continue  # the namelist names and shapes are checked by the field's type and its own validator
        for key, value in keys.items():
            problems += _key_problems(namelist, str(key), value)
    return problems
