"""Orchestration overhead of the active-learning loop on real codes (pw.x, pacemaker, LAMMPS driver).

Runs ``benchmarks/configs/si_overhead.yaml`` (two generations on 8-atom Si, validation
included) once per *mode* of the AiiDA settings, in one invocation, and compares the
wall time of the ``ActiveLearningWorkChain`` with the time its children computed:

- **CalcJobs** (pw.x, pacemaker, LAMMPS): the time the code's job script ran, from
  timestamps the job script writes itself (the benchmark computer's ``prepend_text`` and
  ``append_text`` run ``date +%s.%N`` around the code). This is the honest measure of
  "the code ran"; a CalcJob node's ctime/mtime would include AiiDA's own upload, polling
  and retrieval, i.e. the overhead being measured. pw.x's own reported wall time is
  printed next to it as a cross-check.
- **calcfunctions** (candidate generation, screening, SOAP + FPS, merging, extraction,
  calibration, validation analysis): node ctime to mtime. They run inside the work
  chain's process; counting them as computation keeps their science out of the overhead.

Children run concurrently (two pw.x at once, several MD runs), so their *summed* time
can exceed the wall time. The overhead is therefore measured on the timeline:

    overhead = (wall time - time during which at least one child computed) / wall time

Modes (each on its own computer ``mlip-bench-<mode>`` on localhost, with its own codes):

- ``aiida-defaults``: AiiDA's defaults: the computer's minimum job poll interval 10 s,
  transport safe interval 0 s (core.local), ``runner.poll.interval`` 60 s.
- ``project``: what ``bin/install`` / ``verdi presto`` set up: poll interval 1 s, safe
  interval 0 s, ``runner.poll.interval`` 1 s.
- ``tuned``: poll interval 0.2 s, safe interval 0 s, ``runner.poll.interval`` 1 s.

The work chain runs in this process (``run_get_node``, as ``aiida-mlip-autopipe run``
without ``--daemon``), so the daemon settings (workers, process slots) do not enter;
they are printed for reference.

    python benchmarks/overhead.py                             # all three modes, ~10 min on 2 cores
    python benchmarks/overhead.py --modes project tuned
    python benchmarks/overhead.py --modes tuned --config examples/si/config.yaml   # the demo (~12 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'benchmarks' / 'configs' / 'si_overhead.yaml'
OUTPUT = ROOT / 'benchmarks' / 'output'
STAMP_START, STAMP_END = '.mlip_bench_start', '.mlip_bench_end'

#: mode -> (computer minimum job poll interval s, transport safe_interval s, runner.poll.interval s)
MODES = {
    'aiida-defaults': (10.0, 0.0, 60.0),
    'project': (1.0, 0.0, 1.0),
    'tuned': (0.2, 0.0, 1.0),
}


def setup_computer(mode: str) -> dict[str, Any]:
    """A localhost computer for ``mode`` whose job scripts stamp their start and end; the three codes on it."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    poll, safe, _ = MODES[mode]
    label = f'mlip-bench-{mode}'
    try:
        computer = orm.load_computer(label)
    except NotExistent:
        computer = orm.Computer(
            label=label,
            hostname='localhost',
            description=f'benchmarks/overhead.py: localhost with {mode} settings',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(Path.home() / '.aiida' / 'scratch' / label),
        ).store()
    computer.set_prepend_text(f'date +%s.%N > {STAMP_START}')
    computer.set_append_text(f'date +%s.%N > {STAMP_END}')
    computer.set_default_mpiprocs_per_machine(1)
    computer.set_minimum_job_poll_interval(poll)
    computer.configure(safe_interval=safe)
    codes = {}
    for spec in default_code_specs():
        codes[spec.label] = ensure_code(spec, computer_label=label, echo=lambda _: None)
    return codes


def _intervals(node, started: float, ended: float) -> dict[str, Any]:
    from aiida import orm

    calcjobs, functions = [], []
    for child in node.called_descendants:
        if isinstance(child, orm.CalcJobNode):
            path = Path(child.outputs.remote_folder.get_remote_path()) if 'remote_folder' in child.outputs else None
            try:
                start = float((path / STAMP_START).read_text())
                end = float((path / STAMP_END).read_text())
            except (OSError, ValueError, TypeError):
                print(f'  no timestamps for {child.process_label}<{child.pk}>; counted from node times')
                start, end = child.ctime.timestamp(), child.mtime.timestamp()
            own = None
            if child.process_type.endswith('quantumespresso.pw') and 'output_parameters' in child.outputs:
                own = child.outputs.output_parameters.get('wall_time_seconds')
            calcjobs.append(
                {
                    'pk': child.pk,
                    'code': child.process_label,
                    'start': start,
                    'end': end,
                    'seconds': end - start,
                    'code_reported_seconds': own,
                    'start_delay': start - child.ctime.timestamp(),
                    'end_delay': child.mtime.timestamp() - end,
                    'node_seconds': (child.mtime - child.ctime).total_seconds(),
                }
            )
        elif isinstance(child, orm.CalcFunctionNode):
            functions.append(
                {
                    'pk': child.pk,
                    'name': child.process_label,
                    'start': child.ctime.timestamp(),
                    'end': child.mtime.timestamp(),
                    'seconds': (child.mtime - child.ctime).total_seconds(),
                }
            )
    return {'calcjobs': calcjobs, 'calcfunctions': functions}


def union_seconds(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of ``intervals`` clipped to ``[lo, hi]``."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted((max(lo, s), min(hi, e)) for s, e in intervals if e > lo and s < hi):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def idle_gaps(children: dict[str, list[dict[str, Any]]], lo: float, hi: float) -> list[dict[str, Any]]:
    """The stretches with nothing computing, each named by the child that ended before and the one that began after."""
    events = [
        (c['start'], c['end'], c.get('code') or c.get('name')) for c in children['calcjobs'] + children['calcfunctions']
    ]
    events.sort()
    gaps, covered, last = [], lo, 'start'
    for start, end, name in events:
        if start > covered:
            gaps.append({'seconds': start - covered, 'after': last, 'before': name})
        if end > covered:
            covered, last = end, name
    if hi > covered:
        gaps.append({'seconds': hi - covered, 'after': last, 'before': 'end'})
    return gaps


def run_mode(mode: str, config_path: Path = CONFIG) -> dict[str, Any]:
    """One run of the loop with the settings of ``mode``; returns the measured record."""
    from aiida.engine import run_get_node
    from aiida.manage import get_manager

    from aiida_mlip_autopipe.config import load_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    poll, safe, runner_poll = MODES[mode]
    codes = setup_computer(mode)
    manager = get_manager()
    manager.set_runner(manager.create_runner(poll_interval=runner_poll))
    builder = ActiveLearningWorkChain.get_builder_from_protocol(load_config(config_path), codes=codes, protocol='fast')
    builder.metadata.label = f'overhead {mode}'
    print(f'\n[{mode}] job poll {poll} s, safe interval {safe} s, runner poll {runner_poll} s: running ...', flush=True)
    started = time.time()
    _, node = run_get_node(builder)
    ended = time.time()
    wall = ended - started
    children = _intervals(node, started, ended)
    jobs, functions = children['calcjobs'], children['calcfunctions']
    busy_jobs = union_seconds([(j['start'], j['end']) for j in jobs], started, ended)
    busy = union_seconds([(c['start'], c['end']) for c in jobs + functions], started, ended)
    record = {
        'mode': mode,
        'settings': {'minimum_job_poll_interval': poll, 'safe_interval': safe, 'runner_poll_interval': runner_poll},
        'pk': node.pk,
        'exit_status': node.exit_status,
        'wall_seconds': wall,
        'calcjobs': len(jobs),
        'calcjob_seconds_sum': sum(j['seconds'] for j in jobs),
        'calcfunction_seconds_sum': sum(c['seconds'] for c in functions),
        'busy_seconds_calcjobs': busy_jobs,
        'busy_seconds': busy,
        'overhead_seconds': wall - busy,
        'overhead_fraction': (wall - busy) / wall,
        'start_delay_median': statistics.median(j['start_delay'] for j in jobs) if jobs else None,
        'end_delay_median': statistics.median(j['end_delay'] for j in jobs) if jobs else None,
        'by_code': {},
        'children': children,
    }
    by_pair: dict[str, float] = {}
    for gap in idle_gaps(children, started, ended):
        key = f'{gap["after"]} -> {gap["before"]}'
        by_pair[key] = by_pair.get(key, 0.0) + gap['seconds']
    record['idle_by_transition'] = dict(sorted(by_pair.items(), key=lambda item: -item[1]))
    for code in sorted({j['code'] for j in jobs}):
        mine = [j for j in jobs if j['code'] == code]
        reported = [j['code_reported_seconds'] for j in mine if j['code_reported_seconds'] is not None]
        record['by_code'][code] = {
            'count': len(mine),
            'code_seconds': sum(j['seconds'] for j in mine),
            'node_seconds': sum(j['node_seconds'] for j in mine),
            'code_reported_seconds': sum(reported) if reported else None,
        }
    print(
        f'[{mode}] ActiveLearningWorkChain<{node.pk}> [{node.exit_status}] wall {wall:.1f} s; children computed '
        f'{busy:.1f} s of it ({busy_jobs:.1f} s in CalcJobs) -> overhead {wall - busy:.1f} s = '
        f'{100 * (wall - busy) / wall:.1f} %',
        flush=True,
    )
    return record


def print_table(records: list[dict[str, Any]]) -> None:
    """The comparison of the modes, and where each mode's time went."""
    print(
        '\nmode            job poll  runner poll   wall (s)  busy (s)  overhead (s)  overhead   CalcJob start/end '
        'delay median (s)'
    )
    for r in records:
        s = r['settings']
        print(
            f'{r["mode"]:15s} {s["minimum_job_poll_interval"]:7.1f}s {s["runner_poll_interval"]:10.1f}s '
            f'{r["wall_seconds"]:10.1f} {r["busy_seconds"]:9.1f} {r["overhead_seconds"]:13.1f} '
            f'{100 * r["overhead_fraction"]:8.1f} %   {r["start_delay_median"]:.2f} / {r["end_delay_median"]:.2f}'
        )
    base = records[0]
    for r in records[1:]:
        print(
            f'{r["mode"]} vs {base["mode"]}: wall x{r["wall_seconds"] / base["wall_seconds"]:.2f}, overhead '
            f'x{r["overhead_seconds"] / max(1e-9, base["overhead_seconds"]):.2f}'
        )
    for r in records:
        print(
            f'\n[{r["mode"]}] {r["calcjobs"]} CalcJobs, summed code time {r["calcjob_seconds_sum"]:.1f} s; '
            f'calcfunctions {r["calcfunction_seconds_sum"]:.1f} s'
        )
        top = list(r.get('idle_by_transition', {}).items())[:6]
        print(
            '  idle time by transition (child that ended -> next to start): '
            + '; '.join(f'{k} {v:.1f} s' for k, v in top)
        )
        for code, c in r['by_code'].items():
            reported = (
                ''
                if c['code_reported_seconds'] is None
                else f', the code itself reported {c["code_reported_seconds"]:.1f} s'
            )
            print(
                f'  {code:22s} x{c["count"]:2d}: job script {c["code_seconds"]:6.1f} s, CalcJob node '
                f'{c["node_seconds"]:6.1f} s{reported}'
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--modes', nargs='+', choices=list(MODES), default=list(MODES))
    parser.add_argument('--config', type=Path, default=CONFIG, help='run configuration (default: si_overhead.yaml)')
    args = parser.parse_args()
    os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
    os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from aiida import load_profile
    from aiida.manage.configuration import get_config_option

    load_profile()
    daemon = {
        key: get_config_option(key)
        for key in ('daemon.default_workers', 'daemon.worker_process_slots', 'daemon.timeout', 'runner.poll.interval')
    }
    print(f'profile settings (for reference; this benchmark runs in-process): {daemon}')
    records = [run_mode(mode, args.config) for mode in args.modes]
    print_table(records)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f'overhead_{args.config.stem}.json'
    meta = {
        'date': time.strftime('%Y-%m-%d %H:%M'),
        'cpus': os.cpu_count(),
        'platform': platform.platform(),
        'load_after': os.getloadavg(),
        'profile_settings': daemon,
        'config': str(args.config),
    }
    path.write_text(json.dumps({'meta': meta, 'records': records}, indent=1, default=str))
    print(f'\nwrote {path}')


if __name__ == '__main__':
    main()
