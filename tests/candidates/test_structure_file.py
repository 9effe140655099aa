"""A user's structure file: resolved next to the config, and refused when unreadable, overlapping or foreign."""

from __future__ import annotations

import pytest
import yaml
from ase.build import bulk

from aiida_mlip_autopipe.candidates.structure_file import read_structure_file
from aiida_mlip_autopipe.config import ConfigError, load_config


def _config_with_file(tmp_path, name, content=None, atoms=None):
    path = tmp_path / name
    if atoms is not None:
        atoms.write(path)
    elif content is not None:
        path.write_text(content)
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({'target': {'elements': ['Si'], 'structure_file': name}}))
    return config


def test_structure_file_resolved_relative_to_config(tmp_path, si_atoms):
    config = load_config(_config_with_file(tmp_path, 'si.cif', atoms=si_atoms))
    assert config.target.structure_file == str((tmp_path / 'si.cif').resolve())


@pytest.mark.parametrize(
    ('name', 'content', 'fragment'),
    [
        ('missing.cif', None, 'not found'),
        ('empty.cif', '', 'is empty'),
        ('garbage.cif', 'this is not a cif\n', 'ASE cannot read'),
    ],
)
def test_bad_structure_files(tmp_path, name, content, fragment):
    config = _config_with_file(tmp_path, name, content=content)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.problems[0][0] == 'target.structure_file'
    assert fragment in info.value.format()


def test_structure_file_with_overlapping_atoms(tmp_path, si_atoms):
    atoms = si_atoms.copy()
    atoms.positions[1] = atoms.positions[0] + [0.1, 0, 0]
    with pytest.raises(ConfigError, match='overlapping atoms'):
        load_config(_config_with_file(tmp_path, 'overlap.extxyz', atoms=atoms))


def test_structure_file_with_wrong_element(tmp_path, si_atoms):
    atoms = si_atoms.copy()
    atoms.symbols[0] = 'Ge'
    with pytest.raises(ConfigError, match=r"contains \['Ge'\]"):
        load_config(_config_with_file(tmp_path, 'sige.extxyz', atoms=atoms))


def test_read_structure_file(tmp_path):
    path = tmp_path / 'POSCAR'
    bulk('Si', 'diamond', a=5.43, cubic=True).write(path, format='vasp')
    atoms = read_structure_file(path)
    assert len(atoms) == 8 and atoms.pbc.all()
    molecule = tmp_path / 'h2.xyz'
    molecule.write_text('2\n\nH 0 0 0\nH 0 0 0.74\n')
    with pytest.raises(ValueError, match='3D cell'):
        read_structure_file(molecule)
