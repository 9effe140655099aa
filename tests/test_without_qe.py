"""The pure tests need no Quantum ESPRESSO (issue 12), and the stand-ins they use are faithful.

``tests.without_qe`` hides pw.x and Debian's pseudopotentials as on a machine without them; the
builder, step and bad-input tests run there on the stand-ins of ``tests/stand_ins.py`` and must
all pass, with the one pw.x run of the sample skipped for that reason and no other skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiida import orm

from aiida_mlip_autopipe import provision
from tests.stand_ins import (
    STAND_IN_EXECUTABLE,
    VALENCES,
    install_stand_in_families,
    is_stand_in,
    remove_stand_in_families,
    stand_in_codes,
)

ROOT = Path(__file__).parents[1]

#: Modules whose tests (``integration`` ones apart) must pass without Quantum ESPRESSO.
PURE_MODULES = (
    'tests/reliability/test_bad_inputs.py',
    'tests/cli/test_config_commands.py',
    'tests/labelling/test_workchain.py',
    'tests/loop/test_workchain.py',
)
#: The one pw.x run among them: it must skip, and say why.
PW_RUN = 'tests/labelling/test_workchain.py::test_real_pw_labels_two_atom_si'


def test_stand_in_families_match_the_debian_table(aiida_profile, tmp_path):
    # From nothing, as in a new profile (the pw.x tests install the real families again when they need them).
    query = orm.QueryBuilder().append(orm.Group, filters={'label': {'in': list(provision.DEBIAN_FAMILIES)}})
    for group in query.all(flat=True):
        orm.Group.collection.delete(group.pk)
    labels = install_stand_in_families(tmp_path / 'upf')
    assert sorted(labels) == sorted(provision.DEBIAN_FAMILIES)
    for label, table in provision.DEBIAN_FAMILIES.items():
        family = orm.load_group(label)
        assert is_stand_in(family)
        assert set(family.elements) == set(table)
        for element, (filename, wfc, rho) in table.items():
            assert family.get_pseudo(element).filename == filename
            assert family.get_pseudo(element).z_valence == VALENCES[filename]
            assert family.get_recommended_cutoffs(elements=(element,), unit='Ry') == (wfc, rho)
    # What the pw.x tests do first: the stand-ins go, nothing else does.
    plain = orm.Group(label='not-a-stand-in').store()
    assert sorted(remove_stand_in_families()) == sorted(provision.DEBIAN_FAMILIES)
    assert orm.load_group(plain.label).pk == plain.pk
    assert not [g for g in orm.QueryBuilder().append(orm.Group, project='*').all(flat=True) if is_stand_in(g)]


def test_valences_are_those_of_the_debian_files():
    """The synthetic UPFs carry the valence of the file they stand for (checked where Debian's files are)."""
    from aiida_pseudo.data.pseudo.upf import parse_z_valence

    if not provision.DEBIAN_PSEUDO_DIR.is_dir():
        pytest.skip('quantum-espresso-data is not installed: nothing to compare the stand-ins with')
    files = {spec[0] for table in provision.DEBIAN_FAMILIES.values() for spec in table.values()}
    assert set(VALENCES) == files
    for filename, valence in VALENCES.items():
        content = (provision.DEBIAN_PSEUDO_DIR / filename).read_text(encoding='utf-8', errors='replace')
        assert parse_z_valence(content) == valence, filename


def test_stand_in_code_is_replaced_by_the_real_one(aiida_profile, aiida_localhost, tmp_path, monkeypatch):
    """A code that is not installed becomes a /bin/true stand-in; set-up replaces it once the code is there."""
    missing = provision.CodeSpec('pw', str(tmp_path / 'pw.x'), 'quantumespresso.pw', 'pw.x')
    monkeypatch.setattr(provision, 'default_code_specs', lambda: [missing])
    codes = stand_in_codes(aiida_localhost.label)
    stand_in = codes['pw']
    assert is_stand_in(stand_in) and str(stand_in.filepath_executable) == STAND_IN_EXECUTABLE
    assert stand_in_codes(aiida_localhost.label)['pw'].pk == stand_in.pk  # reused, not duplicated
    (tmp_path / 'pw.x').write_text('#!/bin/sh\n')
    (tmp_path / 'pw.x').chmod(0o755)
    real = provision.ensure_code(missing, computer_label=aiida_localhost.label, echo=lambda _: None)
    assert real.pk != stand_in.pk and not is_stand_in(real)
    assert orm.load_code(f'pw@{aiida_localhost.label}').pk == real.pk
    assert orm.load_node(stand_in.pk).label == f'pw-stale-{stand_in.pk}'
    # And with the code installed, the stand-in fixture hands out the real one.
    assert stand_in_codes(aiida_localhost.label)['pw'].pk == real.pk


def test_pure_tests_pass_without_quantum_espresso(tmp_path):
    """The builder, step and bad-input tests under ``-p tests.without_qe``: all pass, only the pw.x run skips."""
    summary = tmp_path / 'summary.json'
    env = {**os.environ, 'MLIP_TEST_SUMMARY': str(summary), 'MLIP_STRICT_SKIPS': '0'}
    command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'tests.without_qe']
    command += [*PURE_MODULES, '--deselect', 'tests/loop/test_workchain.py::test_end_to_end_tiny_loop']
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    tail = '\n'.join(result.stdout.splitlines()[-25:])
    data = json.loads(summary.read_text(encoding='utf-8'))
    counts = data['counts']['all']
    assert result.returncode == 0, tail
    assert counts.get('failed', 0) == 0 and counts.get('error', 0) == 0, tail
    assert counts['passed'] >= 150, counts
    assert [s['test'] for s in data['skipped']] == [PW_RUN], data['skipped']
    assert 'pw.x is not installed' in data['skipped'][0]['reason']
