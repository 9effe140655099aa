"""The CI plugin says no: in strict mode a skipped test fails, and the summary counts it per marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

SAMPLE = """
import pytest

def test_ok():
    pass

@pytest.mark.services
def test_needs_services():
    pytest.skip('RabbitMQ is not running')
"""


def _run(tmp_path: Path, strict: bool) -> tuple[int, dict]:
    (tmp_path / 'test_sample.py').write_text(SAMPLE, encoding='utf-8')
    (tmp_path / 'pytest.ini').write_text('[pytest]\nmarkers =\n    services: needs services\n', encoding='utf-8')
    summary = tmp_path / 'summary.json'
    env = {**os.environ, 'MLIP_TEST_SUMMARY': str(summary), 'PYTHONPATH': str(ROOT)}
    env.pop('MLIP_STRICT_SKIPS', None)
    if strict:
        env['MLIP_STRICT_SKIPS'] = '1'
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'tests.ci_plugin', '-p', 'no:cacheprovider', str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, json.loads(summary.read_text(encoding='utf-8'))


def test_skip_is_counted_without_strict_mode(tmp_path):
    code, summary = _run(tmp_path, strict=False)
    assert code == 0
    assert summary['counts']['services'] == {'skipped': 1}
    assert summary['skipped'][0]['reason'].endswith('RabbitMQ is not running')


def test_strict_mode_turns_a_skip_into_a_failure(tmp_path):
    code, summary = _run(tmp_path, strict=True)
    assert code == 1
    assert summary['counts']['services'] == {'failed': 1}
    assert summary['counts']['all'] == {'passed': 1, 'failed': 1}
    assert summary['skipped'] == []
