"""Idle cores as the overhead of the active-learning loop: rolling against batch labelling, in one invocation.

Runs the loop in this process (``run_get_node``, as ``aiida-mlip-autopipe run`` without
``--daemon``) on the demo's config (``examples/si/config.yaml``, protocol ``fast``, as
``bin/demo`` runs it) once per *pool*:

- ``rolling``: ``LabellingWorkChain`` as it is (``RollingPoolMixin``: a new label starts as
  each one finishes, largest cells first);
- ``batch``: the same run with ``RollingPoolMixin._on_awaitable_finished`` replaced by
  ``WorkChain._on_awaitable_finished``, so the labelling resumes only when its whole batch of
  ``max_concurrent`` labels has finished (the behaviour before issue 15).

**Computing** is a job script running: the benchmark's computer (``mlip-bench-overhead`` on
localhost) stamps ``date +%s.%N`` before and after the code (``prepend_text``/``append_text``)
and records the job's CPU time with ``times``. Each job counts as one core; the machine has
``os.cpu_count()`` cores. The idle fraction of a stretch of time is
``1 - integral(min(ncores, running jobs)) dt / (ncores * length)`` (``benchmarks/idle_time.py``),
in all and per phase: the time of an instant belongs to the phase of the loop's children active
then (by call link label: ``screen_gen00`` is screening, ``label_gen01`` is dft, ...); time
with no child active is ``between phases``. Calcfunctions run in this process: their time is
printed, not counted as computing.

Also measured, from timestamps: the utilisation of the cores during the DFT phases; each
CalcJob's steps (node ctime -> remote folder: upload; -> job script start: submit and
scheduler; the script; -> retrieved: poll and retrieve; -> last output: parse; -> node mtime:
finalise), per code and on average; the ``PwBaseWorkChain`` wrapper around each pw.x job; and
each pacemaker fit's start-up share (the parser's ``startup_seconds``, from the job's step
record and pacemaker's log, against the job script's total).

    python benchmarks/overhead.py                         # the demo config, rolling then batch (~25 min here)
    python benchmarks/overhead.py --quick                 # benchmarks/configs/si_overhead.yaml (~6 min)
    python benchmarks/overhead.py --pools rolling --config my.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import idle_time

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'examples' / 'si' / 'config.yaml'
QUICK = ROOT / 'benchmarks' / 'configs' / 'si_overhead.yaml'
OUTPUT = ROOT / 'benchmarks' / 'output'
COMPUTER = 'mlip-bench-overhead'
STAMP_START, STAMP_END, STAMP_TIMES = '.mlip_bench_start', '.mlip_bench_end', '.mlip_bench_times'
#: What ``aiida-mlip-autopipe setup`` and ``verdi presto`` set: job poll 0.2 s, safe interval 0 s, runner poll 1 s.
JOB_POLL, RUNNER_POLL = 0.2, 1.0
STEPS = ('upload', 'submit_and_start', 'job_script', 'poll_and_retrieve', 'parse', 'finalise')


def setup_codes() -> dict[str, Any]:
    """The benchmark's localhost computer, whose job scripts stamp their start, end and CPU time, and its codes."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    try:
        computer = orm.load_computer(COMPUTER)
    except NotExistent:
        computer = orm.Computer(
            label=COMPUTER,
            hostname='localhost',
            description='benchmarks/overhead.py: localhost whose job scripts stamp start, end and CPU time',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(Path.home() / '.aiida' / 'scratch' / COMPUTER),
        ).store()
    computer.set_prepend_text(f'date +%s.%N > {STAMP_START}')
    computer.set_append_text(f'date +%s.%N > {STAMP_END}\ntimes > {STAMP_TIMES}')
    computer.set_default_mpiprocs_per_machine(1)
    computer.set_minimum_job_poll_interval(JOB_POLL)
    computer.configure(safe_interval=0.0)
    codes = {
        spec.label: ensure_code(spec, computer_label=COMPUTER, echo=lambda _: None) for spec in default_code_specs()
    }
    python = codes.pop('mlip-python')
    return {**codes, 'screening': python, 'selection': python, 'uncertainty': python, 'extraction': python}


def _cpu_seconds(text: str) -> float | None:
    """Children's user + system time from bash's ``times`` (second line, e.g. ``0m12.5s 0m0.4s``)."""
    lines = text.split('\n')
    try:
        total = 0.0
        for field in lines[1].split():
            minutes, seconds = field.rstrip('s').split('m')
            total += 60 * float(minutes) + float(seconds)
        return total
    except (IndexError, ValueError):
        return None


def calcjob_record(node) -> dict[str, Any]:
    """Timestamps and steps of one CalcJob (see the module docstring), its code and its CPU time."""
    from aiida.common.links import LinkType

    remote = node.outputs.remote_folder if 'remote_folder' in node.outputs else None
    retrieved = node.outputs.retrieved if 'retrieved' in node.outputs else None
    start = end = cpu = None
    if remote is not None:
        folder = Path(remote.get_remote_path())
        try:
            start = float((folder / STAMP_START).read_text())
            end = float((folder / STAMP_END).read_text())
            cpu = _cpu_seconds((folder / STAMP_TIMES).read_text())
        except (OSError, ValueError):
            pass
    others = [
        link.node.ctime.timestamp()
        for link in node.base.links.get_outgoing(link_type=LinkType.CREATE).all()
        if link.link_label not in ('remote_folder', 'retrieved')
    ]
    created, uploaded = node.ctime.timestamp(), remote.ctime.timestamp() if remote else None
    got = retrieved.ctime.timestamp() if retrieved else None
    parsed = max(others) if others else got
    marks = [created, uploaded, start, end, got, parsed, node.mtime.timestamp()]
    steps = {
        name: (b - a if a is not None and b is not None else None)
        for name, a, b in zip(STEPS, marks, marks[1:], strict=False)
    }
    record = {
        'pk': node.pk,
        'code': node.process_label,
        'label': _call_label(node),
        'exit_status': node.exit_status,
        'start': start,
        'end': end,
        'cpu_seconds': cpu,
        'created': created,
        'finished': node.mtime.timestamp(),
        'steps': steps,
    }
    if node.process_label == 'PacemakerCalculation' and 'metrics' in node.outputs:
        metrics = node.outputs.metrics.get_dict()
        keys = ('startup_seconds', 'fit_seconds', 'pacemaker_wall_seconds', 'pace_yaml2yace_wall_seconds')
        record['fit'] = {key: metrics.get(key) for key in (*keys, 'pace_activeset_wall_seconds', 'iterations')}
    return record


def _call_label(node) -> str | None:
    caller = node.base.links.get_incoming(link_type=_call_types()).all()
    return caller[0].link_label if caller else None


def _call_types():
    from aiida.common.links import LinkType

    return (LinkType.CALL_CALC, LinkType.CALL_WORK)


def collect(node) -> dict[str, Any]:
    """The loop's direct children (phase, times), every CalcJob below it and the pw.x wrappers."""
    from aiida import orm

    children = []
    for link in node.base.links.get_outgoing(link_type=_call_types()).all():
        child = link.node
        children.append(
            {
                'label': link.link_label,
                'phase': idle_time.phase_of(link.link_label),
                'kind': child.process_label,
                'calcfunction': isinstance(child, orm.CalcFunctionNode),
                'start': child.ctime.timestamp(),
                'end': child.mtime.timestamp(),
            }
        )
    jobs = [calcjob_record(n) for n in node.called_descendants if isinstance(n, orm.CalcJobNode)]
    wrappers = []
    for base in node.called_descendants:
        if base.process_label != 'PwBaseWorkChain':
            continue
        calcs = sorted((c for c in base.called if isinstance(c, orm.CalcJobNode)), key=lambda c: c.ctime)
        if calcs:
            wrappers.append(
                {
                    'pk': base.pk,
                    'before_first_pw': (calcs[0].ctime - base.ctime).total_seconds(),
                    'after_last_pw': (base.mtime - calcs[-1].mtime).total_seconds(),
                    'pw_runs': len(calcs),
                }
            )
    return {'children': children, 'jobs': jobs, 'pw_wrappers': wrappers}


def analyse(data: dict[str, Any], lo: float, hi: float, ncores: int) -> dict[str, Any]:
    """Idle fraction in all and per phase, DFT utilisation, per-code step costs, pacemaker start-up share."""
    jobs = [(j['start'], j['end']) for j in data['jobs'] if j['start'] is not None and j['end'] is not None]
    children = [(c['phase'], c['start'], c['end']) for c in data['children']]
    phases = idle_time.phase_table(children, jobs, lo, hi, ncores)
    for phase, entry in phases.items():
        entry['calcfunction_seconds'] = sum(
            c['end'] - c['start'] for c in data['children'] if c['calcfunction'] and c['phase'] == phase
        )
    dft = []
    pw = [j for j in data['jobs'] if j['code'] == 'PwCalculation' and j['start'] is not None]
    for child in data['children']:
        if child['label'].startswith('label_gen'):
            gen = child['label'][len('label_gen') :]
            mine = [(j['start'], j['end']) for j in pw if child['start'] <= j['start'] <= child['end']]
            last_start = max((s for s, _ in mine), default=child['start'])
            dft.append(
                {
                    'generation': gen,
                    'wall': child['end'] - child['start'],
                    'labels': len(mine),
                    'utilisation': 1.0 - idle_time.idle_fraction(mine, child['start'], child['end'], ncores),
                    'first_job_after': min((s for s, _ in mine), default=child['end']) - child['start'],
                    **idle_time.tail_idle(mine, last_start, child['start'], child['end'], ncores),
                }
            )
    dft_wall = sum(d['wall'] for d in dft)
    dft_busy = sum(d['utilisation'] * d['wall'] * ncores for d in dft)
    by_code: dict[str, Any] = {}
    for code in sorted({j['code'] for j in data['jobs']}):
        mine = [j for j in data['jobs'] if j['code'] == code]
        entry = {'count': len(mine)}
        for step in STEPS:
            entry[step] = idle_time.summarise(j['steps'][step] for j in mine)['mean']
        entry['aiida_per_job'] = _aiida_cost(mine)
        cpu = [(j['cpu_seconds'], j['steps']['job_script']) for j in mine if j['cpu_seconds'] is not None]
        entry['cores_used'] = (
            sum(c for c, _ in cpu) / sum(s for _, s in cpu) if cpu and sum(s for _, s in cpu) else None
        )
        by_code[code] = entry
    every = {step: idle_time.summarise(j['steps'][step] for j in data['jobs'])['mean'] for step in STEPS}
    every['aiida_per_job'] = _aiida_cost(data['jobs'])
    fits = []
    for j in data['jobs']:
        if 'fit' in j and j['steps']['job_script']:
            startup = j['fit'].get('startup_seconds')
            fits.append(
                {**j['fit'], 'pk': j['pk'], 'label': j['label'], 'job_script_seconds': j['steps']['job_script']}
            )
            fits[-1]['startup_share'] = startup / j['steps']['job_script'] if startup is not None else None
    cpu_total = sum(j['cpu_seconds'] or 0.0 for j in data['jobs'])
    return {
        'phases': phases,
        'dft': dft,
        'dft_utilisation': dft_busy / (ncores * dft_wall) if dft_wall else None,
        'by_code': by_code,
        'all_calcjobs': every,
        'pw_wrappers': {
            key: idle_time.summarise(w[key] for w in data['pw_wrappers'])['mean']
            for key in ('before_first_pw', 'after_last_pw')
        },
        'fits': fits,
        'cpu_idle_fraction': 1.0 - cpu_total / (ncores * (hi - lo)),
    }


def _aiida_cost(jobs: list[dict[str, Any]]) -> float | None:
    """Mean seconds per CalcJob outside its job script (node created -> node finished, minus the script)."""
    costs = [
        (j['finished'] - j['created']) - j['steps']['job_script'] for j in jobs if j['steps']['job_script'] is not None
    ]
    return sum(costs) / len(costs) if costs else None


class LoadSampler(threading.Thread):
    """The machine's 1-minute load average every 10 s while a run lasts (other users' jobs share the cores)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(10.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict[str, float | None]:
        self._done.set()
        self.join()
        values = self.samples or [os.getloadavg()[0]]
        return {'mean': sum(values) / len(values), 'max': max(values)}


def run_pool(pool: str, config_path: Path, codes: dict[str, Any]) -> dict[str, Any]:
    """One run of the loop with the rolling or the batch labelling; its measured record."""
    from aiida.engine import WorkChain, run_get_node
    from aiida.manage import get_manager
    from aiida.manage.caching import disable_caching

    from aiida_mlip_autopipe.common.rolling import RollingPoolMixin
    from aiida_mlip_autopipe.config import load_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    manager = get_manager()
    manager.set_runner(manager.create_runner(poll_interval=RUNNER_POLL))
    builder = ActiveLearningWorkChain.get_builder_from_protocol(load_config(config_path), codes=codes, protocol='fast')
    builder.clean_workdir = False  # the job scripts' stamps live in the remote folders
    builder.metadata.label = f'overhead {pool}'
    rolling = RollingPoolMixin.__dict__['_on_awaitable_finished']
    if pool == 'batch':
        RollingPoolMixin._on_awaitable_finished = WorkChain._on_awaitable_finished
    print(f'\n[{pool}] {config_path.name}: running ...', flush=True)
    load = LoadSampler()
    load.start()
    try:
        with disable_caching():
            started = time.time()
            _, node = run_get_node(builder)
            ended = time.time()
    finally:
        RollingPoolMixin._on_awaitable_finished = rolling
        load_average = load.stop()
    ncores = os.cpu_count() or 1
    data = collect(node)
    record = {
        'pool': pool,
        'pk': node.pk,
        'exit_status': node.exit_status,
        'exit_message': node.exit_message,
        'started': started,
        'wall_seconds': ended - started,
        'ncores': ncores,
        'load_average_1min': load_average,
        **analyse(data, started, ended, ncores),
        'data': data,
    }
    print(
        f'[{pool}] ActiveLearningWorkChain<{node.pk}> [{node.exit_status}] wall {ended - started:.1f} s, '
        f'{len(data["jobs"])} CalcJobs, idle {100 * record["phases"]["all"]["idle_fraction"]:.1f} %',
        flush=True,
    )
    return record


def _pct(value: float | None) -> str:
    return '-' if value is None else f'{100 * value:5.1f} %'


def _s(value: float | None) -> str:
    return '-' if value is None else f'{value:6.2f}'


def print_report(records: list[dict[str, Any]]) -> None:
    """Idle fraction per phase side by side, then DFT utilisation, CalcJob steps and fits per pool."""
    names = sorted(
        {p for r in records for p in r['phases'] if p != 'all'},
        key=lambda p: -records[0]['phases'].get(p, {}).get('wall', 0),
    )
    head = ''.join(f' | {r["pool"]:>7s} wall   idle' for r in records)
    print(
        f'\nidle fraction of {records[0]["ncores"]} cores (a job script = one core computing)\nphase           {head}'
    )
    for phase in [*names, 'all']:
        cells = ''
        for r in records:
            entry = r['phases'].get(phase)
            cells += f' | {entry["wall"]:9.1f} s {_pct(entry["idle_fraction"])}' if entry else ' |' + ' ' * 20
        print(f'{phase:16s}{cells}')
    for r in records:
        print(
            f'\n[{r["pool"]}] PK {r["pk"]} [{r["exit_status"]}]: wall {r["wall_seconds"]:.1f} s; idle '
            f'{_pct(r["phases"]["all"]["idle_fraction"])} (by CPU time of the jobs: {_pct(r["cpu_idle_fraction"])}); '
            f'DFT utilisation {_pct(r["dft_utilisation"])}; load average {r["load_average_1min"]["mean"]:.1f} '
            f'(max {r["load_average_1min"]["max"]:.1f}) on {r["ncores"]} cores'
        )
        for d in r['dft']:
            print(
                f'  label_gen{d["generation"]}: {d["labels"]} labels, {d["wall"]:.1f} s, utilisation '
                f'{_pct(d["utilisation"])}; idle core-s {d["before_last_start"]:.1f} while labels waited to start, '
                f'{d["tail"]:.1f} in the tail after the last start; first pw.x after {d["first_job_after"]:.1f} s'
            )
        print('  CalcJob steps, mean s: ' + ' / '.join(STEPS) + ' | outside the script | cores used by the script')
        for code, c in [
            *r['by_code'].items(),
            ('all CalcJobs', {**r['all_calcjobs'], 'count': '', 'cores_used': None}),
        ]:
            steps = ' '.join(_s(c[s]) for s in STEPS)
            print(f'  {code:24s} {c["count"]!s:>3s} {steps} | {_s(c["aiida_per_job"])} | {_s(c.get("cores_used"))}')
        w = r['pw_wrappers']
        print(f'  PwBaseWorkChain around pw.x: {_s(w["before_first_pw"])} s before, {_s(w["after_last_pw"])} s after')
        for f in r['fits']:
            iterating = (
                f['pacemaker_wall_seconds'] - f['startup_seconds']
                if f['pacemaker_wall_seconds'] is not None and f['startup_seconds'] is not None
                else None
            )
            print(
                f'  fit {f["label"]}: job script {f["job_script_seconds"]:.1f} s = start-up to the first loss '
                f'{_s(f["startup_seconds"])} s ({_pct(f["startup_share"])}) + {_s(iterating)} s of '
                f'{f["iterations"]} iterations to the end of pacemaker + yaml2yace '
                f'{_s(f["pace_yaml2yace_wall_seconds"])} s + activeset {_s(f["pace_activeset_wall_seconds"])} s '
                f'(pacemaker says "Fitting took" '
                f'{_s(f["fit_seconds"])} s, graph building included)'
            )


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Running job scripts over time, one panel per pool, phases shaded."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    phases = sorted({c['phase'] for r in records for c in r['data']['children']})
    colours = dict(zip(phases, plt.cm.tab20.colors, strict=False))
    fig, axes = plt.subplots(len(records), 1, figsize=(12, 2.6 * len(records)), sharex=True, squeeze=False)
    for ax, r in zip(axes[:, 0], records, strict=True):
        t0 = r['started']
        for c in r['data']['children']:
            ax.axvspan(c['start'] - t0, c['end'] - t0, color=colours[c['phase']], alpha=0.25, lw=0)
        edges = sorted(
            [(j['start'] - t0, 1) for j in r['data']['jobs'] if j['start']]
            + [(j['end'] - t0, -1) for j in r['data']['jobs'] if j['end']]
        )
        xs, ys, running = [0.0], [0], 0
        for x, step in edges:
            xs.append(x)
            ys.append(running)
            running += step
            xs.append(x)
            ys.append(running)
        ax.plot(xs, [min(y, r['ncores']) for y in ys], color='k', lw=0.8)
        ax.axhline(r['ncores'], color='grey', ls=':', lw=0.8)
        ax.set_ylabel('cores computing')
        ax.set_title(
            f'{r["pool"]}: idle {100 * r["phases"]["all"]["idle_fraction"]:.1f} % of {r["wall_seconds"]:.0f} s',
            fontsize=9,
        )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[p], alpha=0.4) for p in phases]
    fig.legend(handles, phases, fontsize=7, ncol=min(8, len(phases)), loc='lower center', frameon=False)
    axes[-1, 0].set_xlabel('seconds since the run started')
    fig.tight_layout(rect=(0, 0.08 if len(records) == 1 else 0.05, 1, 1))
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pools', nargs='+', choices=('rolling', 'batch'), default=['rolling', 'batch'])
    parser.add_argument('--config', type=Path, default=None, help='run configuration (default: the demo config)')
    parser.add_argument('--quick', action='store_true', help=f'use {QUICK.relative_to(ROOT)} (two small generations)')
    args = parser.parse_args()
    config = args.config or (QUICK if args.quick else DEMO)
    for key, value in (
        ('OMPI_ALLOW_RUN_AS_ROOT', '1'),
        ('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1'),
        ('TF_CPP_MIN_LOG_LEVEL', '2'),
    ):
        os.environ.setdefault(key, value)
    from aiida import load_profile

    profile = load_profile()
    codes = setup_codes()
    started_daemon = ensure_broker(profile)
    try:
        records = [run_pool(pool, config, codes) for pool in args.pools]
    finally:
        if started_daemon:
            started_daemon.stop_daemon(wait=True, timeout=120)
    print_report(records)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    stem = f'overhead_{config.stem}' if config != DEMO else 'overhead_demo'
    meta = {
        'date': time.strftime('%Y-%m-%d %H:%M'),
        'commit': _commit(),
        'cpus': os.cpu_count(),
        'platform': platform.platform(),
        'load_after': os.getloadavg(),
        'config': str(config),
        'job_poll_interval': JOB_POLL,
        'runner_poll_interval': RUNNER_POLL,
    }
    (OUTPUT / f'{stem}.json').write_text(json.dumps({'meta': meta, 'records': records}, indent=1, default=str))
    plot(records, OUTPUT / f'{stem}.png')
    print(f'\nwrote {OUTPUT / stem}.json and .png')


def ensure_broker(profile):
    """Start the daemon of a ZeroMQ (``verdi presto``) profile if it is not running; return its client if started.

    Its broker lives in the daemon. An in-process run needs it for the state-change broadcasts
    that wake a work chain when a child ends, as in the daemon; without a broker the parent
    would find out only by polling every ``runner.poll.interval``.
    """
    from aiida.brokers.zeromq import ZeromqBroker
    from aiida.engine.daemon.client import get_daemon_client

    if profile.process_control_backend != 'core.zeromq':
        return None
    client = get_daemon_client(profile.name)
    if client.is_daemon_running:
        return None
    client.start_daemon(number_workers=1)
    broker = ZeromqBroker(profile)
    deadline = time.time() + 120
    while not broker.check_service_reachable():
        if time.time() > deadline:
            raise RuntimeError('the ZeroMQ broker of the daemon did not come up within 120 s')
        time.sleep(0.5)
    print(f'started the daemon of profile {profile.name} for its broker (the run itself is in this process)')
    return client


def _commit() -> str | None:
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get('MLIP_BENCH_COMMIT')
    return head.stdout.strip() + (' (with uncommitted changes)' if dirty.stdout.strip() else '')


if __name__ == '__main__':
    main()
