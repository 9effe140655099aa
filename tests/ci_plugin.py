"""Pytest plugin of the test suite: no silent skips in CI, and a machine-readable summary.

Loaded for every run (``-p tests.ci_plugin`` in ``pyproject.toml``). It changes nothing on a
developer's machine unless asked:

- ``MLIP_STRICT_SKIPS=1`` (set by ``.ci/run``) turns every skipped test into a failure, except
  those whose reason contains one of the phrases in ``ALLOWED_SKIPS``. On a CI machine every
  code and service is installed by the project itself, so a skip there means a missing install
  step, not a missing optional tool.
- ``MLIP_TEST_SUMMARY=path`` writes the outcome counts per marker (``services``,
  ``integration``, ...) as JSON, which ``.ci/run`` prints and checks.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

#: Skip reasons that are allowed even in strict mode. Each one is listed, with why, in the
#: README's test section. Keep this empty unless a skip cannot be avoided on a CI machine.
ALLOWED_SKIPS: tuple[str, ...] = ()

_MARKERS = ('services', 'integration', 'slow')
_counts: dict[str, Counter] = defaultdict(Counter)
_skipped: list[tuple[str, str]] = []


def _strict() -> bool:
    return os.environ.get('MLIP_STRICT_SKIPS', '') not in ('', '0', 'false', 'no')


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In strict mode, report a skip (outside ``ALLOWED_SKIPS``) as a failure that names its reason."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, 'wasxfail'):
        return
    reason = _reason(report)
    if _strict() and not any(allowed in reason for allowed in ALLOWED_SKIPS):
        report.outcome = 'failed'
        report.longrepr = (
            f'skipped in strict mode (MLIP_STRICT_SKIPS=1): {reason}\n'
            'CI installs every code and service itself, so this skip hides a missing install step.'
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count outcomes per marker (setup skips and call outcomes, once per test)."""
    if report.when == 'call' or (report.when == 'setup' and not report.passed):
        markers = [m for m in _MARKERS if m in report.keywords] or ['unmarked']
        for marker in [*markers, 'all']:
            _counts[marker][report.outcome] += 1
        if report.skipped:
            _skipped.append((report.nodeid, _reason(report)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the summary when ``MLIP_TEST_SUMMARY`` names a file."""
    target = os.environ.get('MLIP_TEST_SUMMARY')
    if not target:
        return
    summary = {
        'exitstatus': int(exitstatus),
        'counts': {marker: dict(counts) for marker, counts in sorted(_counts.items())},
        'skipped': [{'test': test, 'reason': reason} for test, reason in _skipped],
    }
    Path(target).write_text(json.dumps(summary, indent=2) + '\n', encoding='utf-8')
