"""Bad-input campaign: malformed config and structure files, end to end, and not one node created.

Every case is a file on disk (a config, and a structure file where the case is about one) that
goes through what a user runs: ``load_config`` + ``check_against_profile`` (the Python API) and
``aiida-mlip-autopipe validate`` (the CLI). Each must be refused with a message that names the
offending field, exit status 1 and no traceback, and the profile must hold exactly as many nodes
and groups afterwards as before. ``tests/config/`` and each stage's ``test_config.py`` cover
``parse_config`` on in-memory dicts; this campaign adds the file, YAML, structure-file, profile
and CLI layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiida import orm
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cmd_root
from aiida_mlip_autopipe.config import ConfigError, check_against_profile, load_config

from .harness import write_summary

BASE: dict[str, Any] = {'target': {'elements': ['Si'], 'prototype': 'diamond'}}
# Cases with two elements also lower training.functions_per_element, so that the check that the
# first fit has enough environments per element passes and the case fails for its own reason only.


def si(a: float = 5.43):
    from ase.build import bulk

    return bulk('Si', 'diamond', a=a)


# --- structure files -------------------------------------------------------------------------


def write_atoms(atoms_factory: Callable[[], Any], fmt: str | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        atoms = atoms_factory()
        atoms.write(path, format=fmt) if fmt else atoms.write(path)

    return write


def write_text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def make_dir(path: Path) -> None:
    path.mkdir()


def symlink_to(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _overlap(distance: float):
    def build():
        atoms = si()
        atoms.positions[1] = atoms.positions[0] + [distance, 0, 0]
        return atoms

    return build


def _with(**changes):
    def build():
        atoms = si()
        for name, value in changes.items():
            if name == 'symbol0':
                atoms.symbols[0] = value
            elif name == 'nan':
                atoms.positions[0, 0] = float('nan')
            elif name == 'pbc':
                atoms.pbc = value
            elif name == 'cell':
                atoms.cell = value
            elif name == 'scale':
                atoms.set_cell(atoms.cell * value, scale_atoms=True)
        return atoms

    return build


def _one_atom_tiny_cell():
    from ase.build import bulk

    return bulk('Si', 'sc', a=0.3)


def _poscar_with_unknown_element(path: Path) -> None:
    si().write(path, format='vasp')
    path.write_text(path.read_text().replace('Si', 'Xx'))


def _truncated_extxyz(path: Path) -> None:
    si().write(path, format='extxyz')
    path.write_text(path.read_text()[:150])


CIF_WITHOUT_ATOMS = (
    'data_x\n_cell_length_a 5.4\n_cell_length_b 5.4\n_cell_length_c 5.4\n'
    '_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n'
)


# --- cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One malformed input: what the user wrote, and which field the error must name."""

    id: str
    category: str
    field: str  # the dotted field named in the error; '<top>' for the file as a whole
    fragment: str  # a part of the message that says what is wrong
    config: Any = None  # a dict (dumped as YAML), a str or bytes (written as is), or None for BASE
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    config_name: str = 'config.yaml'
    cli_exit: int = 1  # click itself refuses some paths with its usage error (2)
    cli_fragment: str | None = None  # what the CLI says, when it is not the same as the API
    fix: str | None = None  # a part of the message that says what to do instead


def cfg(**sections) -> dict:
    """BASE with sections or dotted keys replaced, e.g. ``cfg(**{'dft.ecutwfc': -1})``."""
    import copy

    data = copy.deepcopy(BASE)
    for path, value in sections.items():
        keys = path.split('.')
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return data


def with_file(
    name: str, maker: Callable[[Path], None], elements=('Si',), sections: dict | None = None, **target
) -> tuple[dict, dict]:
    config = {'target': {'elements': list(elements), 'structure_file': name, **target}, **(sections or {})}
    return config, {name: maker}


def file_case(case_id: str, fragment: str, name: str, maker, **kwargs) -> Case:
    config, files = with_file(name, maker, **kwargs)
    return Case(case_id, 'structure file', 'target.structure_file', fragment, config, files)


CASES: list[Case] = [
    # The config file itself.
    Case('empty-file', 'file', '<top>', 'the file is empty', ''),
    Case('only-comments', 'file', '<top>', 'the file is empty', '# nothing here\n'),
    Case('unclosed-bracket', 'file', '<top>', 'not valid YAML at line', 'target: [unclosed\n'),
    Case('tab-indentation', 'file', '<top>', 'not valid YAML', 'target:\n\telements: [Si]\n'),
    Case('top-level-list', 'file', '<top>', 'must be a mapping', '- target\n- dft\n'),
    Case('top-level-scalar', 'file', '<top>', 'must be a mapping', 'just a sentence\n'),
    Case('binary-file', 'file', '<top>', 'not a text file', b'\xff\xfe\x00\x80garbage\x81'),
    Case(
        'duplicate-section',
        'file',
        '<top>',
        "key 'dft' appears twice",
        'target: {elements: [Si], prototype: diamond}\ndft: {ecutwfc: -30}\ndft: {ecutwfc: 30}\n',
    ),
    Case(
        'duplicate-key',
        'file',
        '<top>',
        "key 'elements' appears twice",
        'target:\n  elements: [Xx]\n  prototype: diamond\n  elements: [Si]\n',
    ),
    Case(
        'python-tag',
        'file',
        '<top>',
        'could not determine a constructor',
        'target: !!python/object/apply:os.getcwd []\n',
    ),
    Case(
        'config-is-a-directory',
        'file',
        '<top>',
        'config file not found',
        None,
        config_name='folder.yaml',
        cli_exit=2,
        cli_fragment='is a directory',
    ),
    Case('config-missing', 'file', '<top>', 'config file not found', None, config_name='missing.yaml'),
    # Unknown keys.
    Case('unknown-section', 'unknown key', 'screenig', "did you mean 'screening'", cfg(screenig={})),
    Case(
        'unknown-target-key',
        'unknown key',
        'target.element',
        "did you mean 'elements'",
        cfg(**{'target.element': ['Si']}),
    ),
    Case('unknown-dft-key', 'unknown key', 'dft.ecut_wfc', 'unknown key', cfg(**{'dft.ecut_wfc': 30})),
    Case(
        'unknown-nested-key',
        'unknown key',
        'generator.sqs.n_step',
        "did you mean 'n_steps'",
        cfg(**{'generator.sqs.n_step': 10}),
    ),
    Case(
        'unknown-deep-key',
        'unknown key',
        'exploration.extraction.bufer',
        "did you mean 'buffer'",
        cfg(**{'exploration.extraction.bufer': 2}),
    ),
    Case(
        'operation-foreign-key',
        'unknown key',
        'generator.operations[0].stdev',
        'unknown key',
        cfg(**{'generator.operations': [{'kind': 'strain', 'stdev': 0.1}]}),
    ),
    # Keys of the layout before the stage sections: the error says where they went.
    Case(
        'old-surrogate-section',
        'moved key',
        'surrogate',
        'move model, max_force, energy_window, min_distance_factor, batch_size, device to screening:',
        cfg(surrogate={'model': 'none', 'n_select': 4}),
    ),
    Case(
        'old-loop-calibrate-gamma',
        'moved key',
        'loop.calibrate_gamma',
        'moved to uncertainty.calibrate',
        cfg(**{'loop.calibrate_gamma': True}),
    ),
    Case(
        'operation-unknown-kind',
        'unknown key',
        'generator.operations[0]',
        "unknown operation kind 'shake'",
        cfg(**{'generator.operations': [{'kind': 'shake'}]}),
    ),
    Case(
        'operation-without-kind',
        'unknown key',
        'generator.operations[0]',
        "discriminator 'kind'",
        cfg(**{'generator.operations': [{'copies': 2}]}),
    ),
    Case(
        'repulsion-typo',
        'unknown key',
        'training.repulsion.inner_cutof',
        "did you mean 'inner_cutoff'",
        cfg(**{'training.repulsion.inner_cutof': 1.0}),
    ),
    # Wrong types.
    Case('elements-string', 'wrong type', 'target.elements', 'valid list', cfg(**{'target.elements': 'Si'})),
    Case('elements-number', 'wrong type', 'target.elements[0]', 'valid string', cfg(**{'target.elements': [14]})),
    Case('section-scalar', 'wrong type', 'dft', 'valid dictionary', cfg(dft=5)),
    Case('target-null', 'wrong type', 'target', 'valid dictionary', cfg(target=None)),
    Case('cutoff-word', 'wrong type', 'dft.ecutwfc', 'valid number', cfg(**{'dft.ecutwfc': 'thirty'})),
    Case('seed-fraction', 'wrong type', 'seed', 'valid integer', cfg(seed=1.5)),
    Case('boolean-word', 'wrong type', 'validation.enabled', 'valid boolean', cfg(**{'validation.enabled': 'maybe'})),
    Case(
        'temperatures-scalar',
        'wrong type',
        'exploration.temperatures',
        'valid list',
        cfg(**{'exploration.temperatures': 300}),
    ),
    Case(
        'maxstep-boolean',
        'wrong type',
        'dft.electron_maxstep',
        'got the boolean true',
        cfg(**{'dft.electron_maxstep': True}),
    ),
    Case(
        'steps-boolean',
        'wrong type',
        'exploration.n_steps',
        'got the boolean true',
        'target: {elements: [Si], prototype: diamond}\nexploration: {n_steps: yes}\n',
    ),
    Case(
        'namelist-scalar',
        'wrong type',
        'dft.parameters.SYSTEM',
        'valid dictionary',
        cfg(**{'dft.parameters': {'SYSTEM': 5}}),
    ),
    Case(
        'integer-key',
        'wrong type',
        '[1]',
        'Keys should be strings',
        'target: {elements: [Si], prototype: diamond}\n1: x\n',
    ),
    # Out of range.
    Case(
        'cutoff-nan',
        'out of range',
        'dft.ecutwfc',
        'finite number',
        'target: {elements: [Si], prototype: diamond}\ndft: {ecutwfc: .nan}\n',
    ),
    Case(
        'weight-infinite',
        'out of range',
        'training.energy_weight',
        'finite number',
        'target: {elements: [Si], prototype: diamond}\ntraining: {energy_weight: .inf}\n',
    ),
    Case(
        'gamma-infinite',
        'out of range',
        'exploration.gamma_upper',
        'finite number',
        'target: {elements: [Si], prototype: diamond}\nexploration: {gamma_upper: .inf}\n',
    ),
    Case(
        'kpoints-zero', 'out of range', 'dft.kpoints_distance', 'greater than 0.01', cfg(**{'dft.kpoints_distance': 0})
    ),
    Case('smearing-huge', 'out of range', 'dft.degauss', 'less than or equal to 0.2', cfg(**{'dft.degauss': 1.0})),
    Case(
        'select-none',
        'out of range',
        'selection.n_select',
        'greater than or equal to 1',
        cfg(**{'selection.n_select': 0}),
    ),
    Case(
        'ev-two-points',
        'out of range',
        'validation.ev_points',
        'greater than or equal to 3',
        cfg(**{'validation.ev_points': 2}),
    ),
    Case(
        'test-fraction',
        'out of range',
        'training.test_fraction',
        'less than 0.9',
        cfg(**{'training.test_fraction': 0.95}),
    ),
    Case(
        'supercell-huge',
        'out of range',
        'target.supercell_atoms[0]',
        'less than or equal to 2000',
        cfg(**{'target.supercell_atoms': [5000]}),
    ),
    Case('steps-overflow', 'out of range', 'exploration.n_steps', 'integer', cfg(**{'exploration.n_steps': 1e20})),
    Case(
        'dump-after-end',
        'out of range',
        'exploration',
        'exceeds n_steps',
        cfg(exploration={'n_steps': 10, 'dump_interval': 100}),
    ),
    Case(
        'gamma-order',
        'out of range',
        'exploration',
        'must be below gamma_upper',
        cfg(exploration={'gamma_lower': 12.0}),
    ),
    Case('ecutrho-low', 'out of range', 'dft', 'at least 4', cfg(dft={'ecutwfc': 30, 'ecutrho': 60})),
    Case(
        'walltime-short',
        'out of range',
        'dft.max_wallclock_seconds',
        'greater than or equal to 10',
        cfg(**{'dft.max_wallclock_seconds': 1}),
    ),
    Case(
        'gamma-bounds-reversed',
        'out of range',
        'uncertainty.bounds',
        '0 < low < high',
        cfg(**{'uncertainty.bounds': [5, 2]}),
    ),
    # pw.x parameters a label cannot have.
    Case(
        'relax-not-scf',
        'dft parameters',
        'dft.parameters',
        "labels are single-point 'scf'",
        cfg(**{'dft.parameters': {'CONTROL': {'calculation': 'relax'}}}),
    ),
    Case(
        'no-forces',
        'dft parameters',
        'dft.parameters',
        'labels need forces',
        cfg(**{'dft.parameters': {'CONTROL': {'tprnfor': False}}}),
    ),
    Case(
        'nat-given',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.nat is set by AiiDA',
        cfg(**{'dft.parameters': {'SYSTEM': {'nat': 5}}}),
    ),
    Case(
        'pseudo-dir-given',
        'dft parameters',
        'dft.parameters',
        'CONTROL.pseudo_dir names a file or folder: it is set by AiiDA',
        cfg(**{'dft.parameters': {'CONTROL': {'pseudo_dir': '/tmp'}}}),
    ),
    Case(
        'namelist-typo',
        'dft parameters',
        'dft.parameters',
        "did you mean 'SYSTEM'",
        cfg(**{'dft.parameters': {'SYSTM': {'nbnd': 8}}}),
    ),
    # Unknown elements.
    Case(
        'element-unknown',
        'unknown element',
        'target.elements',
        "unknown element 'Xx'",
        cfg(**{'target.elements': ['Xx']}),
    ),
    Case(
        'element-lowercase',
        'unknown element',
        'target.elements',
        "unknown element 'si'",
        cfg(**{'target.elements': ['si']}),
    ),
    Case(
        'element-typo', 'unknown element', 'target.elements', "did you mean 'Si'", cfg(**{'target.elements': ['Sii']})
    ),
    Case('element-empty', 'unknown element', 'target.elements', "unknown element ''", cfg(**{'target.elements': ['']})),
    Case('element-twice', 'unknown element', 'target.elements', 'duplicates', cfg(**{'target.elements': ['Si', 'Si']})),
    # Inconsistent compositions and structures.
    Case(
        'composition-sum',
        'composition',
        'target',
        'sum to 0.9',
        cfg(**{'target.elements': ['Si', 'Ge'], 'target.composition': {'Si': 0.5, 'Ge': 0.4}}),
    ),
    Case(
        'composition-foreign',
        'composition',
        'target',
        "has ['Ge'] not in elements",
        cfg(**{'target.composition': {'Si': 0.5, 'Ge': 0.5}}),
    ),
    Case(
        'composition-negative',
        'composition',
        'target',
        'fractions must be in (0, 1]',
        cfg(**{'target.elements': ['Si', 'Ge'], 'target.composition': {'Si': -0.5, 'Ge': 1.5}}),
    ),
    Case(
        'rocksalt-one-element',
        'composition',
        'target',
        'needs 2 elements',
        cfg(target={'elements': ['Mg'], 'prototype': 'rocksalt', 'lattice_constant': 4.2}),
    ),
    Case(
        'rocksalt-three-elements',
        'composition',
        'target',
        'cannot say which one',
        cfg(target={'elements': ['Mg', 'O', 'Ni'], 'prototype': 'rocksalt', 'lattice_constant': 4.2}),
    ),
    Case(
        'interstitial-foreign',
        'composition',
        'generator.operations',
        "interstitial element 'Ge'",
        cfg(**{'generator.operations': [{'kind': 'interstitial', 'element': 'Ge'}]}),
    ),
    Case(
        'antisite-unary',
        'composition',
        'generator.operations',
        'antisite needs at least two',
        cfg(**{'generator.operations': [{'kind': 'antisite'}]}),
    ),
    Case(
        'c-over-a-cubic',
        'composition',
        'target',
        'c_over_a applies to hcp',
        cfg(target={'elements': ['Al'], 'prototype': 'fcc', 'c_over_a': 1.6}),
    ),
    Case('no-structure', 'composition', 'target', 'give either prototype', cfg(target={'elements': ['Si']})),
    Case(
        'composition-vs-file',
        'composition',
        'target.structure_file',
        'does not match target.composition',
        *with_file(
            'sige.extxyz',
            write_atoms(_with(symbol0='Ge')),
            elements=('Si', 'Ge'),
            sections={'dft': {'pseudo_family': 'MLIPAutoPipe/Debian/PBE'}, 'training': {'functions_per_element': 8}},
            composition={'Si': 0.8, 'Ge': 0.2},
        ),
    ),
    # The AiiDA profile: pseudopotentials and codes.
    Case(
        'pseudo-missing-element',
        'profile',
        'dft.pseudo_family',
        "no pseudopotential for ['Ge']",
        cfg(**{'target.elements': ['Si', 'Ge'], 'training.functions_per_element': 8}),
    ),
    Case(
        'pseudo-missing-metal',
        'profile',
        'dft.pseudo_family',
        "no pseudopotential for ['W']",
        cfg(target={'elements': ['W'], 'prototype': 'bcc'}),
    ),
    Case(
        'pseudo-family-absent',
        'profile',
        'dft.pseudo_family',
        'no such pseudopotential family',
        cfg(**{'dft.pseudo_family': 'SSSP/1.3/PBE/efficiency'}),
    ),
    Case(
        'pseudo-family-plain-group',
        'profile',
        'dft.pseudo_family',
        'not a pseudopotential family',
        cfg(**{'dft.pseudo_family': 'campaign/plain-group'}),
    ),
    Case('code-absent', 'profile', 'dft.code', 'pw@nowhere', cfg(**{'dft.code': 'pw@nowhere'})),
    Case(
        'code-wrong-plugin',
        'profile',
        'training.code',
        "set up for 'quantumespresso.pw'",
        cfg(**{'training.code': 'pw@localhost'}),
    ),
    Case(
        'code-vanished', 'profile', 'dft.code', 'missing or not executable', cfg(**{'dft.code': 'vanished@localhost'})
    ),
    # Shell metacharacters and path escapes.
    Case('code-semicolon', 'shell/path', 'dft.code', 'contains', cfg(**{'dft.code': 'pw@localhost; rm -rf ~'})),
    Case('code-subshell', 'shell/path', 'exploration.code', 'contains', cfg(**{'exploration.code': '$(reboot)'})),
    Case('code-backtick', 'shell/path', 'training.code', 'contains', cfg(**{'training.code': 'pace`id`'})),
    Case('family-and', 'shell/path', 'dft.pseudo_family', 'contains', cfg(**{'dft.pseudo_family': 'LDA && ls'})),
    Case('name-pipe', 'shell/path', 'name', 'contains', cfg(name='run|tee')),
    Case(
        'file-escape',
        'shell/path',
        'target.structure_file',
        'escapes the working folder',
        cfg(target={'elements': ['Si'], 'structure_file': '../../etc/passwd'}),
    ),
    Case(
        'file-semicolon',
        'shell/path',
        'target.structure_file',
        'contains',
        cfg(target={'elements': ['Si'], 'structure_file': 'si;rm.cif'}),
    ),
    Case(
        'file-subshell',
        'shell/path',
        'target.structure_file',
        'contains',
        cfg(target={'elements': ['Si'], 'structure_file': '$(id).cif'}),
    ),
    Case(
        'file-newline',
        'shell/path',
        'target.structure_file',
        'contains',
        cfg(target={'elements': ['Si'], 'structure_file': 'si\n.cif'}),
    ),
    Case(
        'model-escape',
        'shell/path',
        'screening.model',
        'escapes the working folder',
        cfg(**{'screening.model': '../../model.pt'}),
    ),
    # Structure files.
    Case(
        'file-missing',
        'structure file',
        'target.structure_file',
        'not found',
        cfg(target={'elements': ['Si'], 'structure_file': 'nope.cif'}),
    ),
    file_case('file-empty', 'is empty', 'empty.cif', write_text('')),
    file_case('file-whitespace', 'ASE cannot read', 'blank.cif', write_text('  \n\n')),
    file_case('file-garbage', 'ASE cannot read', 'garbage.cif', write_text('this is not a cif\n')),
    file_case('file-binary', 'ASE cannot read', 'noise.cif', write_bytes(bytes(range(256)) * 3)),
    file_case('file-directory', 'not found', 'folder.cif', make_dir),
    file_case('file-unknown-format', 'ASE cannot read', 'si.foo', write_text('Si 0 0 0\n')),
    file_case('file-unknown-element', 'ASE cannot read', 'POSCAR', _poscar_with_unknown_element),
    file_case('file-wrong-element', "contains ['Ge']", 'sige.extxyz', write_atoms(_with(symbol0='Ge'))),
    file_case(
        'file-molecule', '3D periodic crystal', 'molecule.xyz', write_atoms(_with(pbc=False, cell=[0, 0, 0]), 'xyz')
    ),
    file_case('file-slab', '3D periodic crystal', 'slab.extxyz', write_atoms(_with(pbc=[True, True, False]))),
    file_case('file-no-atoms', 'holds no atoms', 'none.extxyz', write_atoms(lambda: si()[:0])),
    file_case(
        'file-singular-cell',
        'linearly dependent',
        'flat.extxyz',
        write_atoms(_with(cell=[[5, 0, 0], [5, 0, 0], [0, 0, 5]])),
    ),
    file_case('file-nan', 'NaN', 'nan.extxyz', write_atoms(_with(nan=True))),
    file_case('file-overlap', 'overlapping atoms', 'overlap.extxyz', write_atoms(_overlap(0.1))),
    file_case('file-coincident', 'overlapping atoms', 'coincident.extxyz', write_atoms(_overlap(0.0))),
    file_case('file-image-overlap', 'overlapping atoms', 'squeezed.extxyz', write_atoms(_with(scale=0.2))),
    file_case('file-self-image', 'its periodic image', 'tiny.extxyz', write_atoms(_one_atom_tiny_cell)),
    file_case('file-link-to-passwd', 'ASE cannot read', 'link.cif', symlink_to('/etc/passwd')),
    file_case('file-truncated', 'ASE cannot read', 'cut.extxyz', _truncated_extxyz),
    file_case('file-cif-no-atoms', 'ASE cannot read', 'cell.cif', write_text(CIF_WITHOUT_ATOMS)),
    Case(
        'file-absolute-missing',
        'structure file',
        'target.structure_file',
        'not found',
        cfg(target={'elements': ['Si'], 'structure_file': '/nonexistent/si.cif'}),
    ),
    Case(
        'file-both', 'structure file', 'target', 'not both', *with_file('si.cif', write_atoms(si), prototype='diamond')
    ),
]

# --- issue 16: molecules and surfaces (target.molecule, target.surfaces, target.shares) ---------
# Refused at validate, naming the field: no vacuum, Miller indices the lattice cannot make, unknown
# molecule names, shares of kinds the target does not have.
_SLAB = {'elements': ['Si'], 'prototype': 'diamond'}
_WATER = {'elements': ['H', 'O']}
CASES += [
    Case(
        'surface-no-vacuum',
        'surfaces',
        'target.surfaces[0].vacuum',
        'is no vacuum',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [1, 0, 0], 'vacuum': 0}]}),
    ),
    Case(
        'surface-thin-vacuum',
        'surfaces',
        'target.surfaces[0].vacuum',
        'at least 3 Å',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [1, 0, 0], 'vacuum': 1.0}]}),
    ),
    Case(
        'surface-miller-bravais-on-cubic',
        'surfaces',
        'target.surfaces[0].miller',
        'need a hexagonal lattice',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [1, 0, -1, 0]}]}),
    ),
    Case(
        'surface-miller-bravais-inconsistent',
        'surfaces',
        'target.surfaces[0].miller',
        'the third must be -(h + k)',
        cfg(target={'elements': ['Mg'], 'prototype': 'hcp', 'surfaces': [{'miller': [1, 1, 1, 0]}]}),
    ),
    Case(
        'surface-miller-zero',
        'surfaces',
        'target.surfaces[0].miller',
        'name no plane',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [0, 0, 0]}]}),
    ),
    Case(
        'surface-miller-common-factor',
        'surfaces',
        'target.surfaces[0].miller',
        'common factor 2',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [2, 2, 0]}]}),
    ),
    Case(
        'surface-miller-vicinal',
        'surfaces',
        'target.surfaces[0].miller',
        'vicinal cut',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [9, 7, 5], 'layers': 20}]}),
    ),
    Case(
        'surface-one-layer',
        'surfaces',
        'target.surfaces[0].layers',
        'greater than or equal to 2',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [1, 1, 1], 'layers': 1}]}),
    ),
    Case(
        'surface-without-lattice',
        'surfaces',
        'target',
        'cut from the bulk lattice',
        cfg(target={**_WATER, 'molecule': {'name': 'H2O'}, 'surfaces': [{'miller': [1, 0, 0]}]}),
    ),
    Case(
        'molecule-unknown-name',
        'molecule',
        'target.molecule.name',
        "unknown molecule 'Watr'",
        cfg(target={**_WATER, 'molecule': {'name': 'Watr'}}),
    ),
    Case(
        'molecule-name-case',
        'molecule',
        'target.molecule.name',
        "did you mean 'H2O'",
        cfg(target={**_WATER, 'molecule': {'name': 'h2o'}}),
    ),
    Case(
        'molecule-foreign-element',
        'molecule',
        'target.molecule.name',
        "contains ['H', 'O']",
        cfg(target={**_SLAB, 'molecule': {'name': 'H2O'}}),
    ),
    Case(
        'molecule-no-vacuum',
        'molecule',
        'target.molecule.vacuum',
        'is no vacuum',
        cfg(target={**_WATER, 'molecule': {'name': 'H2O', 'vacuum': 0}}),
    ),
    Case(
        'molecule-name-and-file',
        'molecule',
        'target.molecule',
        'not both',
        cfg(target={**_WATER, 'molecule': {'name': 'H2O', 'file': 'water.xyz'}}),
    ),
    Case(
        'shares-unknown-kind',
        'shares',
        'target.shares.slab.[key]',
        "'bulk', 'surface' or 'molecule'",
        cfg(target={**_SLAB, 'shares': {'slab': 1.0}}),
    ),
    Case(
        'shares-do-not-sum-to-one',
        'shares',
        'target',
        'sum to 0.6',
        cfg(target={**_SLAB, 'surfaces': [{'miller': [1, 0, 0]}], 'shares': {'bulk': 0.3, 'surface': 0.3}}),
    ),
    Case(
        'shares-of-a-missing-kind',
        'shares',
        'target',
        'no surfaces',
        cfg(target={**_SLAB, 'shares': {'bulk': 0.5, 'surface': 0.5}}),
    ),
    Case(
        'operation-stretch-reversed',
        'molecule',
        'generator.operations[0].range',
        'reversed',
        cfg(
            target={**_WATER, 'molecule': {'name': 'H2O'}},
            generator={'operations': [{'kind': 'stretch', 'range': [0.2, 0.0]}]},
        ),
    ),
]
# --- end of the issue 16 cases ----------------------------------------------------------------


def _count() -> tuple[int, int, int]:
    """Nodes, groups and computers in the profile."""
    return (
        orm.QueryBuilder().append(orm.Node).count(),
        orm.QueryBuilder().append(orm.Group).count(),
        orm.QueryBuilder().append(orm.Computer).count(),
    )


@pytest.fixture(scope='module')
def campaign_profile(aiida_profile):
    """Codes and families as ``setup`` makes them, plus a plain group and a code whose executable is gone.

    The codes and families are stand-ins where Quantum ESPRESSO is absent (``tests/stand_ins.py``):
    the profile checks read labels, plugins, elements and cutoffs, and no case runs pw.x.
    """
    import tempfile

    from tests.stand_ins import install_stand_in_families, stand_in_codes

    try:
        orm.load_computer('localhost')
    except Exception:
        orm.Computer(
            label='localhost',
            hostname='localhost',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=tempfile.mkdtemp(),
        ).store().configure()
    stand_in_codes('localhost')
    install_stand_in_families(Path(tempfile.mkdtemp()))
    orm.Group.collection.get_or_create(label='campaign/plain-group')
    folder = Path(tempfile.mkdtemp())
    exe = folder / 'pw-gone.x'
    exe.write_text('#!/bin/sh\n')
    exe.chmod(0o755)
    try:
        orm.load_code('vanished@localhost')
    except Exception:
        orm.InstalledCode(
            computer=orm.load_computer('localhost'),
            filepath_executable=str(exe),
            label='vanished',
            default_calc_job_plugin='quantumespresso.pw',
        ).store()
    exe.unlink()
    return aiida_profile


def _write_case(case: Case, folder: Path) -> Path:
    for name, maker in case.files.items():
        maker(folder / name)
    path = folder / case.config_name
    if case.id == 'config-is-a-directory':
        path.mkdir()
    elif case.id == 'config-missing':
        pass
    elif isinstance(case.config, bytes):
        path.write_bytes(case.config)
    elif isinstance(case.config, str):
        path.write_text(case.config)
    else:
        path.write_text(yaml.safe_dump(BASE if case.config is None else case.config))
    return path


def _api_problems(path: Path) -> list[tuple[str, Any, str]]:
    try:
        config = load_config(path)
    except ConfigError as exc:
        return exc.problems
    return check_against_profile(config)


def _shown(loc: str) -> str:
    return loc or '<top>'


# --- issue 14: pass-through dicts key by key (dft.parameters, training.extra_input), physics across
# sections, the oracle (tests/reliability/bad_input_cases.py); each message also says what to do.
from tests.reliability.bad_input_cases import ISSUE_14_CASES  # noqa: E402

CASES += [
    Case(case_id, category, dotted, fragment, config, fix=fix)
    for case_id, category, dotted, fragment, fix, config in ISSUE_14_CASES
]


def test_campaign_is_large_and_distinct():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 50
    categories = {case.category for case in CASES}
    assert {
        'file',
        'unknown key',
        'wrong type',
        'out of range',
        'unknown element',
        'composition',
        'profile',
    } <= categories
    assert sum(case.category == 'structure file' for case in CASES) >= 15


def test_good_config_passes(campaign_profile, tmp_path):
    """The control: the base config is accepted, so every rejection below is for the change made."""
    path = _write_case(Case('good', '', '', '', None), tmp_path)
    assert _api_problems(path) == []
    result = CliRunner().invoke(cmd_root, ['validate', str(path)])
    assert result.exit_code == 0, result.output
    assert 'is valid' in result.output


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_naming_the_field(campaign_profile, tmp_path, case):
    path = _write_case(case, tmp_path)
    before = _count()

    problems = _api_problems(path)
    result = CliRunner().invoke(cmd_root, ['validate', str(path)])

    after = _count()
    fields = [_shown(loc) for loc, _, _ in problems]
    assert case.field in fields, f'{case.id}: {problems}'
    messages = ' | '.join(message for loc, _, message in problems if _shown(loc) == case.field)
    assert case.fragment in messages, f'{case.id}: {messages}'
    if case.fix is not None:
        assert case.fix in messages, f'{case.id}: the message says no fix ({case.fix!r}): {messages}'

    assert result.exit_code == case.cli_exit, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
    assert 'Traceback' not in result.output
    if case.cli_fragment is None:
        assert f'  - {case.field}' in result.output
        assert case.fragment in result.output
    else:
        assert case.cli_fragment in result.output

    assert after == before, f'{case.id} created nodes, groups or computers'
    # Written once every assert above has passed: the table shows only what was checked.
    write_summary(
        'bad_inputs',
        {
            'id': case.id,
            'category': case.category,
            'rejected_api': bool(problems),
            'rejected_cli': result.exit_code == case.cli_exit,
            'nodes_created': after[0] - before[0],
            'groups_created': after[1] - before[1],
        },
    )


# --- bad inputs given to the work chain directly ----------------------------------------------


def _labelling_builder(changes: str):
    from ase.build import bulk

    from aiida_mlip_autopipe.labelling.config import DFTConfig
    from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

    code = orm.load_code('pw@localhost')
    structures = {'si': orm.StructureData(ase=si())}
    builder = LabellingWorkChain.get_builder_from_protocol(code, structures, dft=DFTConfig(kpoints_distance=0.5))
    if changes == 'element-without-pseudo':
        builder.structures = {'ge': orm.StructureData(ase=bulk('Ge', 'diamond', a=5.65))}
    elif changes == 'no-structures':
        builder.structures = {}
    elif changes == 'budget-above-one':
        builder.failure_budget = orm.Float(1.5)
    elif changes == 'zero-concurrency':
        builder.max_concurrent = orm.Int(0)
    return builder


@pytest.mark.parametrize(
    ('changes', 'fragment'),
    [
        ('element-without-pseudo', "no pseudopotential for ['Ge']"),
        ('no-structures', 'give at least one structure'),
        ('budget-above-one', 'failure_budget must be in [0, 1]'),
        ('zero-concurrency', 'max_concurrent must be at least 1'),
    ],
)
def test_bad_work_chain_inputs_store_nothing(campaign_profile, changes, fragment):
    """A work chain refused by its input validator leaves no node behind (not even its own)."""
    from aiida.engine import run

    builder = _labelling_builder(changes)
    before = _count()
    with pytest.raises(ValueError, match=fragment.replace('[', r'\[').replace(']', r'\]')):
        run(builder)
    after = _count()
    assert after == before
    write_summary(
        'bad_inputs',
        {
            'id': f'workchain-{changes}',
            'category': 'work chain inputs',
            'rejected_api': True,
            'rejected_cli': None,
            'nodes_created': after[0] - before[0],
            'groups_created': after[1] - before[1],
        },
    )


def test_no_stray_files_created_by_validate(campaign_profile, tmp_path):
    """``validate`` writes nothing next to the config (no caches, no partial outputs)."""
    case = next(c for c in CASES if c.id == 'file-overlap')
    path = _write_case(case, tmp_path)
    listing = sorted(os.listdir(tmp_path))
    CliRunner().invoke(cmd_root, ['validate', str(path)])
    assert sorted(os.listdir(tmp_path)) == listing
