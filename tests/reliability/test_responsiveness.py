"""The daemon answers while a screening of 2 000 candidates runs as a job (issue 15, item 2).

Real daemon with one worker (``daemon_profile``: a ``verdi presto``-like profile), real MACE model
(the project's tiny MACE file) on 2 000 rattled 8-atom Si cells: the job evaluates them for tens
of seconds. While its job script runs, ``verdi process list`` returns and lists it, and a small
process submitted to the same worker meanwhile finishes before the screening job does: the worker
is free. The same check run on the old way, the screening inline in a calcfunction on the worker,
says no: the small process waits until the screening has finished (200 cells are enough for that).

The job's ``max_force`` is set so low that every cell is rejected: the model still evaluates all
2 000, but the parser makes no copies. Making 2 000 output nodes holds the worker for minutes on
this machine (AiiDA validates and stores every link on its own, ~45 ms each here), before and after
the job script: ``benchmarks/daemon_responsiveness.py`` measures that with realistic thresholds.

Speed targets are measured by benchmarks, never by timed asserts: the latencies are recorded
(printed, and in ``$MLIP_RELIABILITY_SUMMARY`` under ``responsiveness``);
``benchmarks/daemon_responsiveness.py`` measures them against an idle daemon.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiida import orm
from aiida.engine import calcfunction, submit
from aiida.workflows.arithmetic.add_multiply import add_multiply

from .harness import wait_for, write_summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = Path(__file__).parents[1] / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'
NUM_CANDIDATES = 2000
#: Cells of the old-way check: enough to hold the worker while the small process is submitted.
NUM_INLINE = 200


@calcfunction
def screen_inline(model: orm.SinglefileData, settings: orm.Dict, **structures: orm.StructureData) -> orm.Dict:
    """The old way: the same screening, run inside the daemon worker (the calcfunction of earlier versions)."""
    from aiida_mlip_autopipe.screening.backends import load_backend
    from aiida_mlip_autopipe.screening.config import ScreeningConfig
    from aiida_mlip_autopipe.screening.core import screen

    parsed = ScreeningConfig.model_validate(settings.get_dict())
    with model.open(mode='rb') as handle:
        backend = load_backend(handle, batch_size=parsed.batch_size)
    verdicts = screen(
        [node.get_ase() for node in structures.values()],
        backend,
        max_force=parsed.max_force,
        energy_window=parsed.energy_window,
        min_distance_factor=parsed.min_distance_factor,
    )
    return orm.Dict({key: verdict.kept for key, verdict in zip(structures, verdicts, strict=True)})


@pytest.fixture(scope='module')
def screening_inputs(daemon_profile) -> dict[str, Any]:
    """Code, model, settings and 2 000 stored rattled 8-atom Si cells, in the daemon's profile."""
    from aiida.manage import get_manager
    from ase.build import bulk

    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code
    from aiida_mlip_autopipe.screening.job import model_input, screening_settings

    spec = next(s for s in default_code_specs() if s.label == 'mlip-python')
    code = ensure_code(spec, computer_label=daemon_profile.pw_code.computer.label, echo=lambda _: None)
    # Every rattled cell has forces above 1 meV/Å: all are rejected, after the model evaluated them.
    config = parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'screening': {'max_force': 1e-3}})
    base = bulk('Si', 'diamond', a=5.43, cubic=True)
    rng = np.random.default_rng(15)
    structures = {}
    with get_manager().get_profile_storage().transaction():  # one commit, not 2 000
        for i in range(NUM_CANDIDATES):
            atoms = base.copy()
            atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
            structures[f'c{i:04d}'] = orm.StructureData(ase=atoms).store()
    return {
        'code': code,
        'model': model_input(str(MODEL)).store(),
        'settings': screening_settings(config).store(),
        'structures': structures,
    }


def job_script_running(calc: orm.CalcJobNode) -> bool:
    """Whether the job of ``calc`` runs now (``core.direct`` job ids are process ids on this machine)."""
    job_id = calc.get_job_id()
    return bool(job_id) and str(job_id).isdigit() and Path(f'/proc/{job_id}').exists()


def verdi_process_list(profile_name: str) -> tuple[subprocess.CompletedProcess, float]:
    """``verdi -p <profile> process list`` in a subprocess, as a user would type it; with its wall time."""
    verdi = Path(sys.executable).with_name('verdi')
    started = time.perf_counter()
    result = subprocess.run(
        [str(verdi), '-p', profile_name, 'process', 'list'],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, 'AIIDA_PATH': os.environ.get('AIIDA_PATH', '')},
        check=False,
    )
    return result, time.perf_counter() - started


def lists(output: str, node: orm.ProcessNode) -> bool:
    """Whether a ``verdi process list`` table has a row for ``node`` (its PK first, then its process label)."""
    return any(
        line.split()[:1] == [str(node.pk)] and node.process_label in line for line in output.splitlines() if line
    )


def small_process_while(screening: orm.ProcessNode) -> dict[str, Any]:
    """Submit ``add_multiply(1, 2, 3)`` to the worker; once it has finished, say whether ``screening`` had."""
    submitted = time.perf_counter()
    small = submit(add_multiply, x=orm.Int(1), y=orm.Int(2), z=orm.Int(3))
    wait_for(lambda: small.is_terminated, 600, f'add_multiply<{small.pk}> to finish', interval=0.1)
    return {
        'small': small,
        'latency_seconds': time.perf_counter() - submitted,
        'screening_finished_first': screening.is_terminated,
    }


def test_daemon_answers_while_a_screening_job_runs(daemon_profile, screening_inputs):
    profile = daemon_profile.profile.name
    from aiida_mlip_autopipe.screening.job import ScreeningCalculation

    job = submit(ScreeningCalculation, **screening_inputs)
    wait_for(lambda: job_script_running(job) or job.is_terminated, 600, f'the job of {job.process_label}<{job.pk}>')
    assert not job.is_terminated, f'{job.process_label}<{job.pk}> ended before its job was seen running'

    listing, list_seconds = verdi_process_list(profile)
    assert listing.returncode == 0, listing.stderr
    assert lists(listing.stdout, job), listing.stdout
    running_when_listed = job_script_running(job)

    meanwhile = small_process_while(job)
    small = meanwhile['small']
    assert small.is_finished_ok, f'add_multiply<{small.pk}> [{small.exit_status}] {small.exit_message}'
    assert small.outputs.result.value == 9
    # The functional fact: the one worker ran another process to its end while the job computed.
    assert meanwhile['screening_finished_first'] is False

    wait_for(lambda: job.is_terminated, 900, f'{job.process_label}<{job.pk}> to finish', interval=1)
    assert job.is_finished_ok, f'{job.process_label}<{job.pk}> [{job.exit_status}] {job.exit_message}'
    verdicts = job.outputs.verdicts.get_dict()
    assert verdicts['n_candidates'] == NUM_CANDIDATES
    assert verdicts['model']['backend'] == 'mace'
    assert verdicts['counts_by_reason'] == {'max_force': NUM_CANDIDATES}
    record = {
        'mode': 'job',
        'candidates': NUM_CANDIDATES,
        'verdi_process_list_seconds': round(list_seconds, 3),
        'job_running_when_listed': running_when_listed,
        'small_process_seconds': round(meanwhile['latency_seconds'], 3),
        'job_script_seconds': verdicts['job']['seconds'],
        'job_peak_memory_mb': verdicts['job']['peak_memory_mb'],
        'screening_node_seconds': round((job.mtime - job.ctime).total_seconds(), 3),
    }
    print(f'responsiveness (ScreeningCalculation<{job.pk}>): {record}')
    write_summary('responsiveness', record)


def test_the_same_check_says_no_for_screening_inside_the_worker(daemon_profile, screening_inputs):
    """The old way blocks the worker: the small process finishes only after the inline screening."""
    inputs = {key: screening_inputs[key] for key in ('model', 'settings')}
    structures = dict(sorted(screening_inputs['structures'].items())[:NUM_INLINE])
    inline = submit(screen_inline, **inputs, **structures)
    wait_for(lambda: inline.process_state is not None and inline.process_state.value != 'created', 600, 'the start')
    # Give the worker time to enter the calcfunction (the node is running from its first line).
    wait_for(lambda: inline.process_state.value == 'running' or inline.is_terminated, 600, 'the screening to run')

    listing, list_seconds = verdi_process_list(daemon_profile.profile.name)
    assert listing.returncode == 0, listing.stderr

    meanwhile = small_process_while(inline)
    assert meanwhile['small'].is_finished_ok
    assert inline.is_finished_ok, f'screen_inline<{inline.pk}> [{inline.exit_status}] {inline.exit_message}'
    assert len(inline.outputs.result.get_dict()) == NUM_INLINE
    # Here the verdict is no: the worker could not run the small process before the screening ended.
    assert meanwhile['screening_finished_first'] is True
    record = {
        'mode': 'inline',
        'candidates': NUM_INLINE,
        'verdi_process_list_seconds': round(list_seconds, 3),
        'small_process_seconds': round(meanwhile['latency_seconds'], 3),
        'screening_node_seconds': round((inline.mtime - inline.ctime).total_seconds(), 3),
    }
    print(f'responsiveness (screen_inline<{inline.pk}>): {record}')
    write_summary('responsiveness', record)
