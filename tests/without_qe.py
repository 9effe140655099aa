"""Pytest plugin: run the tests as on a machine without Quantum ESPRESSO (no pw.x, no Debian UPFs).

``bash bin/test -p tests.without_qe -m 'not integration'`` shows that the pure tests and the
bad-input campaign need neither ``pw.x`` nor ``quantum-espresso-data`` (issue 12): on such a
machine :mod:`aiida_mlip_autopipe.provision` finds no ``pw.x`` and no pseudopotential folder,
which is what this plugin makes it see (``pw.x`` stays in ``/usr/bin``, but every test finds
its codes through ``provision.default_code_specs``). Tests that really run ``pw.x`` (marked ``integration``)
skip here, saying why, and so do the few that install the real Debian families.
``tests/test_without_qe.py`` runs a few modules under this plugin and fails on any skip.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

#: Where the hidden pw.x and pseudopotentials would be: a path that does not exist.
HIDDEN = Path('/nonexistent/hidden-by-tests.without_qe')


def _hide() -> None:
    from aiida_mlip_autopipe import provision

    original_specs = provision.default_code_specs

    def default_code_specs():
        return [replace(s, executable=str(HIDDEN / 'pw.x')) if s.label == 'pw' else s for s in original_specs()]

    provision.default_code_specs = default_code_specs
    provision.DEBIAN_PSEUDO_DIR = HIDDEN / 'pseudo'
    defaults = list(provision.ensure_debian_families.__defaults__)
    defaults[0] = HIDDEN / 'pseudo'
    provision.ensure_debian_families.__defaults__ = tuple(defaults)


_hide()


def pw_hidden() -> bool:
    """Whether this plugin is active (for tests that must know)."""
    from aiida_mlip_autopipe import provision

    return provision.DEBIAN_PSEUDO_DIR == HIDDEN / 'pseudo'
