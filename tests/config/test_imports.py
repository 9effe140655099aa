"""``import aiida_mlip_autopipe.config`` stays light: no AiiDA ORM, no ML libraries, even for the full model."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ('aiida.orm', 'aiida.engine', 'torch', 'dscribe', 'mace', 'chgnet', 'pyace', 'tensorflow', 'icet')


def test_config_imports_no_heavy_module():
    script = (
        'import sys\n'
        'import aiida_mlip_autopipe.config as config\n'
        "config.parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}})\n"
        f'heavy = [m for m in {HEAVY!r} if m in sys.modules]\n'
        'assert not heavy, heavy\n'
    )
    result = subprocess.run([sys.executable, '-c', script], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_stage_section_can_be_imported_first():
    """The stage models import ``config.base``; importing one of them first must not be circular."""
    for module in ('candidates', 'screening', 'selection', 'labelling', 'training', 'exploration', 'uncertainty'):
        script = f'import aiida_mlip_autopipe.{module}.config\nimport aiida_mlip_autopipe.config.model\n'
        result = subprocess.run([sys.executable, '-c', script], check=False, capture_output=True, text=True)
        assert result.returncode == 0, (module, result.stderr)
