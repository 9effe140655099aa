"""Does the daemon answer while a large screening runs? The job (ScreeningCalculation) against the old way.

Issue 15, item 2. A throwaway ``verdi presto``-like profile (SQLite, the ZeroMQ broker inside
the daemon) with a daemon of **one worker**, the project's tiny MACE model on ``--candidates``
rattled 8-atom Si cells (2 000 by default), screened in two ways, one after the other, each on
a fresh worker:

- ``job``: :class:`~aiida_mlip_autopipe.screening.job.ScreeningCalculation`, the model runs in
  its own process (``python -m aiida_mlip_autopipe.screening.task``) on ``mlip-python``;
- ``inline``: the old way, :func:`screen_inline` below, a calcfunction that calls
  :func:`~aiida_mlip_autopipe.screening.core.screen` with the backend inside the worker and
  makes the same outputs (verdicts and a copy of every kept candidate) as the calcfunction of
  earlier versions.

While the model computes (the job script runs, or the calcfunction runs) the benchmark runs
``verdi -p <profile> process list`` again and again and compares its wall time with the same
command on the idle daemon in the same run, submits a small process (``add_multiply``, two
calcfunctions) to the same worker and times it to its end, and samples the worker's resident
memory (psutil, plus ``VmHWM``, the kernel's peak, of the fresh worker). For the job, a second
small process is submitted the moment the job script ends, while the worker retrieves and
parses: the time the worker still spends on the job's nodes. Each CalcJob step is timed from
timestamps (node ctime, the job script's own ``date`` stamps, output ctimes, node mtime).

Nothing here is a timed test: it prints the numbers and writes them to
``benchmarks/output/daemon_responsiveness.json``.

    python benchmarks/daemon_responsiveness.py                    # 2 000 candidates, ~25 min on 2 loaded cores
    python benchmarks/daemon_responsiveness.py --candidates 300   # quick (~4 min)
    python benchmarks/daemon_responsiveness.py --keep none        # every cell rejected: no output copies
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiida.engine import calcfunction

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / 'benchmarks' / 'output'
MODEL = ROOT / 'tests' / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'
STAMP_START, STAMP_END = '.mlip_bench_start', '.mlip_bench_end'
PROFILE = 'responsiveness'


@calcfunction
def screen_inline(model, settings, **structures):
    """The old way: the screening inside the daemon worker, with the outputs of the calcfunction of old."""
    from aiida import orm

    from aiida_mlip_autopipe.candidates.nodes import copy_candidate
    from aiida_mlip_autopipe.screening.backends import load_backend
    from aiida_mlip_autopipe.screening.config import ScreeningConfig
    from aiida_mlip_autopipe.screening.core import screen

    parsed = ScreeningConfig.model_validate(settings.get_dict())
    with model.open(mode='rb') as handle:
        backend = load_backend(handle, device=parsed.device, batch_size=parsed.batch_size)
    verdicts = screen(
        [node.get_ase() for node in structures.values()],
        backend,
        max_force=parsed.max_force,
        energy_window=parsed.energy_window,
        min_distance_factor=parsed.min_distance_factor,
    )
    records, kept = {}, {}
    for (key, node), verdict in zip(structures.items(), verdicts, strict=True):
        records[key] = {'uuid': node.uuid, **verdict.as_dict()}
        if verdict.kept:
            kept[key] = copy_candidate(
                node, screening={'energy_per_atom': verdict.energy_per_atom, 'max_force': verdict.max_force}
            )
    return {'verdicts': orm.Dict({'n_kept': len(kept), 'candidates': records}), 'structures': kept}


def make_profile(directory: Path):
    """A profile like ``verdi presto``'s in a throwaway configuration folder; localhost with stamping job scripts."""
    from aiida import load_profile, orm
    from aiida.manage.configuration import create_profile, get_config, reset_config
    from aiida.manage.configuration.settings import AiiDAConfigDir

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    # Never the user's configuration: this folder's own, for this process and every verdi it starts.
    folder = directory / '.aiida'
    os.environ['AIIDA_PATH'] = str(folder)
    reset_config()
    AiiDAConfigDir.set(folder)
    config = get_config(create=True)
    profile = create_profile(
        config,
        storage_backend='core.sqlite_dos',
        storage_config={'filepath': str(directory / 'storage')},
        broker_backend='core.zeromq',
        broker_config={},
        name=PROFILE,
        email='benchmark@localhost',
    )
    config.set_option('runner.poll.interval', 1, scope=profile.name)
    config.set_default_profile(profile.name, overwrite=True)
    config.store()
    load_profile(profile.name, allow_switch=True)
    computer = orm.Computer(
        label='localhost',
        hostname='localhost',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(directory / 'work'),
    ).store()
    computer.set_minimum_job_poll_interval(0.2)  # what `aiida-mlip-autopipe setup` sets on localhost
    computer.set_default_mpiprocs_per_machine(1)
    computer.set_prepend_text(f'date +%s.%N > {STAMP_START}')
    computer.set_append_text(f'date +%s.%N > {STAMP_END}')
    computer.configure(safe_interval=0)
    spec = next(s for s in default_code_specs() if s.label == 'mlip-python')
    return ensure_code(spec, computer_label='localhost', echo=lambda _: None)


def make_inputs(code, count: int, keep: str) -> dict[str, Any]:
    """The model, the settings and ``count`` stored rattled 8-atom Si cells (one database commit)."""
    import numpy as np
    from aiida import orm
    from aiida.manage import get_manager
    from ase.build import bulk

    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.screening.job import model_input, screening_settings

    screening = {} if keep == 'all' else {'max_force': 1e-3}
    config = parse_config({'target': {'elements': ['Si'], 'prototype': 'diamond'}, 'screening': screening})
    base = bulk('Si', 'diamond', a=5.43, cubic=True)
    rng = np.random.default_rng(15)
    structures = {}
    with get_manager().get_profile_storage().transaction():
        for i in range(count):
            atoms = base.copy()
            atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
            structures[f'c{i:05d}'] = orm.StructureData(ase=atoms).store()
    return {
        'code': code,
        'model': model_input(str(MODEL)).store(),
        'settings': screening_settings(config).store(),
        'structures': structures,
    }


def verdi_process_list() -> dict[str, Any]:
    """``verdi -p <profile> process list`` as a user types it: wall time, exit status, output."""
    verdi = Path(sys.executable).with_name('verdi')
    started = time.perf_counter()
    result = subprocess.run(
        [str(verdi), '-p', PROFILE, 'process', 'list'],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
        check=False,
    )
    return {'seconds': time.perf_counter() - started, 'returncode': result.returncode, 'stdout': result.stdout}


def lists(output: str, pk: int) -> bool:
    """Whether a ``verdi process list`` table has a row for ``pk``."""
    return any(line.split()[:1] == [str(pk)] for line in output.splitlines())


class MemorySampler(threading.Thread):
    """Sample the resident memory of one process every ``interval`` s; ``peak`` in MB."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self._stop_event = pid, interval, 0.0, threading.Event()

    def run(self) -> None:
        import psutil

        process = psutil.Process(self.pid)
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, process.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak


def high_water_mark_mb(pid: int) -> float | None:
    """The kernel's peak resident memory of ``pid`` (``VmHWM``), in MB."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_for(condition, timeout: float, what: str, interval: float = 0.1) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f'waited {timeout:.0f} s for {what}')
        time.sleep(interval)


def fresh_worker(client) -> int:
    """Replace the daemon's worker by a new one (so its peak memory is this case's); return its PID."""

    def pids() -> list[int]:
        return sorted(int(pid) for pid in (client.get_worker_info().get('info') or {}))

    old = pids()
    if old:
        client.decrease_workers(1)
        wait_for(lambda: not pids(), 120, 'the old worker to stop')
    client.increase_workers(1)
    wait_for(lambda: len(pids()) == 1 and pids() != old, 120, 'a new worker')
    return pids()[0]


def stop_daemon(client) -> None:
    """Stop the benchmark's daemon; on a loaded machine circus may answer late, so wait and, at worst, kill it."""
    import psutil
    from aiida.engine.daemon.client import DaemonException

    arbiter = client.get_daemon_pid()
    try:
        client.stop_daemon(wait=True, timeout=120)
    except DaemonException as exc:
        print(f'stopping the daemon: {exc}; waiting for it', flush=True)
    try:
        process = psutil.Process(arbiter) if arbiter else None
        if process is not None:
            children = process.children(recursive=True)
            for proc in [process, *children]:
                try:
                    proc.wait(timeout=60)
                except psutil.TimeoutExpired:
                    proc.kill()
    except psutil.NoSuchProcess:
        pass


def job_running(node) -> bool:
    job_id = node.get_job_id()
    return bool(job_id) and str(job_id).isdigit() and Path(f'/proc/{job_id}').exists()


def submit_small():
    from aiida import orm
    from aiida.engine import submit
    from aiida.workflows.arithmetic.add_multiply import add_multiply

    return submit(add_multiply, x=orm.Int(1), y=orm.Int(2), z=orm.Int(3)), time.time()


def calcjob_steps(node) -> dict[str, float | None]:
    """Seconds of each step of a CalcJob, from the node's and the job script's timestamps."""
    from aiida.common.links import LinkType

    created = node.ctime.timestamp()
    remote = node.outputs.remote_folder if 'remote_folder' in node.outputs else None
    retrieved = node.outputs.retrieved if 'retrieved' in node.outputs else None
    try:
        folder = Path(remote.get_remote_path())
        start = float((folder / STAMP_START).read_text())
        end = float((folder / STAMP_END).read_text())
    except (AttributeError, OSError, ValueError):
        start = end = None
    outputs = [
        link.node.ctime.timestamp()
        for link in node.base.links.get_outgoing(link_type=LinkType.CREATE).all()
        if link.link_label not in ('remote_folder', 'retrieved')
    ]
    last = max(outputs) if outputs else None
    uploaded = remote.ctime.timestamp() if remote else None
    got = retrieved.ctime.timestamp() if retrieved else None

    def span(a, b):
        return round(b - a, 3) if a is not None and b is not None else None

    return {
        'upload': span(created, uploaded),
        'submit_and_start': span(uploaded, start),
        'job_script': span(start, end),
        'poll_and_retrieve': span(end, got),
        'parse': span(got, last),
        'store_outputs_and_finalise': span(last if last else got, node.mtime.timestamp()),
        'total': span(created, node.mtime.timestamp()),
    }


def run_case(mode: str, client, inputs: dict[str, Any], idle_samples: int) -> dict[str, Any]:
    """One screening (``job`` or ``inline``) on a fresh worker, with the daemon probed while it computes."""
    from aiida.engine import submit

    from aiida_mlip_autopipe.screening.job import ScreeningCalculation

    worker = fresh_worker(client)
    idle = [verdi_process_list()['seconds'] for _ in range(idle_samples)]
    sampler = MemorySampler(worker)
    sampler.start()
    print(
        f'[{mode}] worker {worker}; idle `verdi process list` {statistics.median(idle):.2f} s; submitting', flush=True
    )
    submitted = time.time()
    if mode == 'job':
        node = submit(ScreeningCalculation, **inputs)
        computing = lambda: job_running(node)  # noqa: E731
    else:
        import daemon_responsiveness as this  # the worker imports the calcfunction by this module name

        fields = {key: inputs[key] for key in ('model', 'settings')}
        node = submit(this.screen_inline, **fields, **inputs['structures'])
        computing = lambda: node.process_state is not None and node.process_state.value == 'running'  # noqa: E731
    submit_seconds = time.time() - submitted
    wait_for(lambda: computing() or node.is_terminated, 3600, f'{mode} to compute')
    compute_seen = time.time()
    print(f'[{mode}] {node.process_label}<{node.pk}> computing after {compute_seen - submitted:.1f} s', flush=True)

    listings, small, small_done = [], None, None
    while computing():
        if small is None:
            small, small_submitted = submit_small()
        listing = verdi_process_list()
        listings.append(
            {
                'seconds': listing['seconds'],
                'returncode': listing['returncode'],
                'lists_it': lists(listing['stdout'], node.pk),
                'while_computing': computing(),
            }
        )
        if small_done is None and small.is_terminated:
            small_done = time.time()
    compute_ended = time.time()
    after = None
    if mode == 'job':
        after, after_submitted = submit_small()
    wait_for(lambda: node.is_terminated and (small is None or small.is_terminated), 7200, f'{mode} to finish', 0.2)
    finished = time.time()
    if small is not None and small_done is None:
        small_done = small.mtime.timestamp()
    record: dict[str, Any] = {
        'mode': mode,
        'pk': node.pk,
        'exit_status': node.exit_status,
        'worker_pid': worker,
        'submit_seconds': round(submit_seconds, 3),
        'computing_seconds': round(compute_ended - compute_seen, 3),
        'total_seconds': round(finished - submitted, 3),
        'verdi_idle_seconds': [round(s, 3) for s in idle],
        'verdi_during': listings,
        'small_process_seconds': round(small_done - small_submitted, 3) if small is not None else None,
        'small_finished_before_screening': (
            bool(small is not None and small.is_finished_ok and small.mtime < node.mtime) if small else None
        ),
    }
    if after is not None:
        wait_for(lambda: after.is_terminated, 7200, 'the small process after the job')
        record['small_after_job_script_seconds'] = round(after.mtime.timestamp() - after_submitted, 3)
    if mode == 'job':
        record['steps'] = calcjob_steps(node)
    record['worker_peak_rss_mb_sampled'] = round(sampler.stop(), 1)
    record['worker_vmhwm_mb'] = high_water_mark_mb(worker)
    during = [entry['seconds'] for entry in listings if entry['while_computing']] or [e['seconds'] for e in listings]
    record['verdi_idle_median'] = statistics.median(idle)
    record['verdi_during_median'] = statistics.median(during) if during else None
    record['verdi_ratio'] = record['verdi_during_median'] / record['verdi_idle_median'] if during else None
    print(f'[{mode}] done: {json.dumps({k: v for k, v in record.items() if k != "verdi_during"})}', flush=True)
    return record


def print_table(records: list[dict[str, Any]], count: int) -> None:
    print(f'\n{count} candidates, one daemon worker')
    print(
        'mode     verdi list idle  while computing  ratio   small process   worker peak RSS (VmHWM)   '
        'computing  submit  total'
    )
    for r in records:
        print(
            f'{r["mode"]:8s} {r["verdi_idle_median"]:9.2f} s {r["verdi_during_median"]:13.2f} s '
            f'{r["verdi_ratio"]:6.2f}x {r["small_process_seconds"]:10.1f} s {r["worker_vmhwm_mb"]:15.0f} MB'
            f'{"":10s} {r["computing_seconds"]:7.1f} s {r["submit_seconds"]:6.1f} s {r["total_seconds"]:6.1f} s'
        )
    job = next((r for r in records if r['mode'] == 'job'), None)
    if job:
        print(f'job steps (s): {job["steps"]}')
        print(f'small process submitted as the job script ended: {job["small_after_job_script_seconds"]:.1f} s')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--candidates', type=int, default=2000)
    parser.add_argument('--modes', nargs='+', choices=('job', 'inline'), default=['job', 'inline'])
    parser.add_argument('--idle-samples', type=int, default=5, help='`verdi process list` calls on the idle daemon')
    parser.add_argument(
        '--keep',
        choices=('all', 'none'),
        default='all',
        help="'all': default thresholds (every rattled cell is kept and copied); 'none': max_force 1 meV/Å",
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix='mlip-responsiveness-'))
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from aiida.engine.daemon.client import get_daemon_client

    code = make_profile(directory)
    print(f'profile {PROFILE} in {directory}; storing {args.candidates} candidates ...', flush=True)
    inputs = make_inputs(code, args.candidates, args.keep)
    client = get_daemon_client(PROFILE)
    client.start_daemon(number_workers=1)
    try:
        records = [run_case(mode, client, inputs, args.idle_samples) for mode in args.modes]
    finally:
        stop_daemon(client)
    print_table(records, args.candidates)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / 'daemon_responsiveness.json'
    meta = {
        'date': time.strftime('%Y-%m-%d %H:%M'),
        'cpus': os.cpu_count(),
        'platform': platform.platform(),
        'load_after': os.getloadavg(),
        'candidates': args.candidates,
        'keep': args.keep,
        'profile_folder': str(directory),
    }
    path.write_text(json.dumps({'meta': meta, 'records': records}, indent=1, default=str))
    print(f'\nwrote {path}')


if __name__ == '__main__':
    main()
