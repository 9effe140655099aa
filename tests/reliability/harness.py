"""Drive a daemon through hard failures and account for every DFT run.

Nothing here knows about a particular work chain: ``run_with_hard_kill`` submits any process
builder (the ``LabellingWorkChain`` today, the ``ActiveLearningWorkChain`` once it lands), waits
until DFT is half done, kills the daemon workers with SIGKILL, lets the daemon bring them back (or
restarts it), waits for the run to end and counts the ``PwCalculation`` nodes below it. A DFT run is
*recomputed* when a second ``PwCalculation`` below the same run has exactly the same structure,
parameters and parent folder as an earlier one; restarts by ``PwBaseWorkChain`` handlers change the
parameters (``mixing_beta``) and the parent folder, so they are not counted as recomputed.

Which worker executed a step is read from the log records of the process nodes: AiiDA stores the
OS process id of the interpreter that emitted every report in ``Log.metadata['process']``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiida import orm
from aiida.common.links import LinkType

PW_PROCESS_TYPE = 'aiida.calculations:quantumespresso.pw'

#: How a run is interrupted: ``workers`` kills every worker and lets circus respawn them;
#: ``restart`` kills every worker and then restarts the daemon's workers as ``verdi daemon restart``
#: does (what a user does after a crash); ``daemon`` kills the workers *and* the circus arbiter and
#: everything it started, leaving stale PID files behind, and starts a new daemon (a crashed node),
#: followed by ``verdi daemon restart`` on a ZeroMQ (presto) profile; see
#: ``_rebind_workers_to_new_zeromq_broker``.
KILL_MODES = ('workers', 'restart', 'daemon')


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll ``condition`` until it is true; raise ``TimeoutError`` naming ``what`` otherwise."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f'waited {timeout:.0f} s for {what}')
        time.sleep(interval)


def worker_pids(client) -> list[int]:
    """OS process ids of the running daemon workers."""
    info = client.get_worker_info().get('info', {}) or {}
    return sorted(int(pid) for pid in info)


def pw_calculations(process: orm.ProcessNode) -> list[orm.CalcJobNode]:
    """Every ``PwCalculation`` below ``process``, oldest first."""
    found = [node for node in process.called_descendants if node.process_type == PW_PROCESS_TYPE]
    return sorted(found, key=lambda node: node.pk)


def _job_alive(calc: orm.CalcJobNode) -> bool:
    """Whether the scheduler job of ``calc`` is a live process on this machine (core.direct job ids are PIDs)."""
    job_id = calc.get_job_id()
    return bool(job_id) and str(job_id).isdigit() and Path(f'/proc/{job_id}').exists()


def running_pw_jobs(process: orm.ProcessNode) -> dict[str, str]:
    """``{uuid: job id}`` of the ``PwCalculation``s whose pw.x job is running right now."""
    return {
        calc.uuid: str(calc.get_job_id())
        for calc in pw_calculations(process)
        if not calc.is_terminated and _job_alive(calc)
    }


def finished_pw(process: orm.ProcessNode) -> list[str]:
    """UUIDs of the ``PwCalculation``s below ``process`` that have finished (with any exit status)."""
    return [calc.uuid for calc in pw_calculations(process) if calc.is_finished]


def dft_half_done(process: orm.ProcessNode, finished: list[str], running: dict[str, str]) -> bool:
    """Default kill point: some pw.x runs have finished and another one is running now.

    :param finished: UUIDs of the finished ``PwCalculation``s (``finished_pw``), read just now.
    :param running: running pw.x jobs (``running_pw_jobs``), read just now.
    """
    return bool(finished) and bool(running)


def _fingerprint(calc: orm.CalcJobNode) -> tuple[str, str, str]:
    """What makes two pw.x runs the same computation: structure, parameters and parent folder."""
    parameters = json.dumps(calc.inputs.parameters.get_dict(), sort_keys=True)
    parent = calc.inputs.parent_folder.uuid if 'parent_folder' in calc.inputs else ''
    return calc.inputs.structure.uuid, parameters, parent


def recomputed_pw(process: orm.ProcessNode) -> list[str]:
    """UUIDs of ``PwCalculation``s that repeat an earlier one below ``process`` (must be empty)."""
    seen: set[tuple[str, str, str]] = set()
    repeats = []
    for calc in pw_calculations(process):
        key = _fingerprint(calc)
        if key in seen:
            repeats.append(calc.uuid)
        seen.add(key)
    return repeats


def handler_restarts(process: orm.ProcessNode) -> int:
    """``PwCalculation``s that a ``PwBaseWorkChain`` error handler launched after a failed one."""
    per_caller = Counter(calc.caller.pk for calc in pw_calculations(process) if calc.caller is not None)
    return sum(count - 1 for count in per_caller.values())


def reporting_pids(node: orm.ProcessNode, since: float | None = None) -> set[int]:
    """OS process ids of the interpreters that wrote the reports of ``node`` (after ``since``, a UNIX time)."""
    pids = set()
    for log in orm.Log.collection.get_logs_for(node):
        created = log.metadata.get('created')
        if since is not None and created is not None and created < since:
            continue
        if log.metadata.get('process') is not None:
            pids.add(int(log.metadata['process']))
    return pids


@dataclass
class KillRecord:
    """What happened to one run that was killed and resumed."""

    mode: str
    process_pk: int
    exit_status: int | None
    killed_worker_pids: list[int]
    interim_worker_pids: list[int]
    new_worker_pids: list[int]
    finished_before_kill: list[str]
    running_at_kill: dict[str, str]
    pw_calculations: int
    recomputed: list[str]
    handler_restarts: int
    resumed_by_pids: list[int]
    job_ids_after: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form, for the reliability summary."""
        return asdict(self)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def interrupt_daemon(
    client, mode: str, number_workers: int, timeout: float = 60
) -> tuple[list[int], list[int], list[int], float]:
    """Kill the workers of the daemon of ``client`` hard and bring the daemon back as ``mode`` says.

    :returns: the PIDs of the workers killed, of the workers that were started and then replaced
        by a restart (``restart`` mode, and ``daemon`` mode on ZeroMQ), and of the workers that run
        afterwards; and the UNIX time by which every killed worker was dead. Reports written after
        that time come from another process; a time taken before the kill would also count the
        last reports of a worker that was still running (in ``daemon`` mode the workers outlive
        the arbiter by up to a second).
    """
    if mode not in KILL_MODES:
        raise ValueError(f'mode {mode!r} is not one of {KILL_MODES}')
    interim: list[int] = []
    killed: list[int] = []

    def listed() -> bool:
        # circus answers with no workers for a moment while it respawns one or is busy (seen once in
        # CI, mid-run, with the loop's jobs going on): ask again rather than give up on the test.
        nonlocal killed
        killed = _safe_worker_pids(client)
        return bool(killed)

    try:
        wait_for(listed, timeout, 'the daemon to list its workers', interval=0.5)
    except TimeoutError as exc:
        raise RuntimeError('the daemon has no workers to kill') from exc
    arbiter = client.get_daemon_pid() if mode == 'daemon' else None
    if arbiter is not None:
        # The whole daemon dies as in a crash of the machine it runs on: the circus arbiter first, so
        # that it cannot respawn anything, then everything it started (workers, the ZeroMQ broker
        # service of a presto profile, circus' stats process). The pw.x jobs are not among them: the
        # scheduler detached them.
        children = _children(arbiter)
        _kill(arbiter)
        wait_for(lambda: not Path(f'/proc/{arbiter}').exists() or _is_zombie(arbiter), 20, 'the arbiter to die')
        for pid in children:
            _kill(pid)
        killed_all = [*children, *killed]
        wait_for(lambda: all(_is_zombie(p) for p in killed_all), 20, 'the daemon processes to die')
    for pid in killed:
        _kill(pid)
    wait_for(lambda: all(_is_zombie(p) for p in killed), 20, 'the killed workers to die')
    dead_at = time.time()
    if mode == 'restart':
        # What `verdi daemon restart` does: circus stops the workers it has (the respawned ones) and starts new ones.
        wait_for(lambda: not set(killed) & set(_safe_worker_pids(client)), timeout, 'the killed workers to go')
        interim = _safe_worker_pids(client)
        client.restart_daemon(wait=True, timeout=int(timeout))
    elif mode == 'daemon':
        client.start_daemon(number_workers=number_workers)
        interim = _rebind_workers_to_new_zeromq_broker(client, number_workers, timeout)
    new: list[int] = []

    def respawned() -> bool:
        nonlocal new
        new = _safe_worker_pids(client)
        return len(new) == number_workers and not set(new) & (set(killed) | set(interim))

    wait_for(respawned, timeout, f'{number_workers} new daemon workers')
    return killed, interim, new, dead_at


def stop_daemon(client, timeout: float = 120) -> None:
    """Stop the daemon of ``client`` and make sure it is gone: circus and everything it started.

    A graceful stop first; if the daemon still runs after ``timeout`` seconds, its arbiter and the
    processes the arbiter started are killed, so that a test never leaves a daemon behind.
    """
    from aiida.engine.daemon.client import DaemonException

    arbiter = client.get_daemon_pid()
    if arbiter is None:
        return
    children = _children(arbiter)
    with contextlib.suppress(DaemonException):
        client.stop_daemon(wait=True, timeout=int(timeout))
    try:
        wait_for(lambda: _is_zombie(arbiter) and all(_is_zombie(p) for p in children), timeout, 'the daemon to stop')
    except TimeoutError:
        for pid in [arbiter, *_children(arbiter), *children]:
            _kill(pid)
        client._clean_potentially_stale_pid_file()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from ``/proc``."""
    children = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _rebind_workers_to_new_zeromq_broker(client, number_workers: int, timeout: float) -> list[int]:
    """After a crash of a presto daemon, ``verdi daemon restart`` once its new ZeroMQ broker is up.

    aiida-core 2.9.4: a broker killed with SIGKILL leaves its ``broker.sockets`` file behind. A
    worker that starts together with the new broker may read that file before the new broker
    rewrites it, connect to the dead broker's socket and wait there forever (seen in 3 of 8 tries
    here). Restarting the workers once the new broker runs makes them read the new file; this is
    the recovery procedure in ``docs/howto/scale_out.md``.

    :returns: the PIDs of the workers that were replaced (empty for other brokers).
    """
    if client.profile.process_control_backend != 'core.zeromq':
        return []
    from aiida.brokers.zeromq import ZeromqBroker

    broker = ZeromqBroker(client.profile)
    wait_for(broker.check_service_reachable, timeout, 'the new ZeroMQ broker service')
    wait_for(lambda: len(_safe_worker_pids(client)) == number_workers, timeout, 'the new workers')
    interim = _safe_worker_pids(client)
    client.restart_daemon(wait=True, timeout=int(timeout))
    _reconnect_this_interpreter(client.profile)
    return interim


def _reconnect_this_interpreter(profile) -> None:
    """Drop this interpreter's connection to the dead ZeroMQ broker, so that its next ``submit`` reaches the new one.

    The communicator of a runner binds to the socket the broker had when it was made; after the
    broker is killed and a new one starts, tasks sent through the old communicator go nowhere and
    the submitted process waits forever for a worker (what a ``verdi`` shell kept open across a
    crash would see, too). The next ``get_runner()`` builds a new communicator from the new sockets file.
    """
    from aiida.manage import get_manager

    manager = get_manager()
    loaded = manager.get_profile()
    if loaded is None or loaded.name != profile.name:
        return
    manager.reset_runner()
    manager.reset_broker()


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` is gone or a zombie."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'Z'
    except (OSError, IndexError):
        return True


def _safe_worker_pids(client) -> list[int]:
    try:
        return worker_pids(client)
    except Exception:  # the daemon is between states
        return []


def run_with_hard_kill(
    submittable,
    client,
    *,
    mode: str = 'workers',
    number_workers: int = 1,
    kill_when: Callable[[orm.ProcessNode, list[str], dict[str, str]], bool] = dft_half_done,
    timeout: float = 600,
) -> tuple[orm.ProcessNode, KillRecord]:
    """Submit ``submittable`` (a builder or a stored process node) to the daemon, kill, resume, account.

    The kill comes when ``kill_when(node, finished, running)`` holds and at least one pw.x job is running.

    The daemon of ``client`` must be running with ``number_workers`` workers.
    """
    from aiida.engine import submit

    start = time.monotonic()
    node = submittable if isinstance(submittable, orm.ProcessNode) else submit(submittable)

    snapshot: dict[str, Any] = {}

    def ready() -> bool:
        if node.is_terminated:
            raise RuntimeError(f'{node.process_label}<{node.pk}> ended [{node.exit_status}] before the kill point')
        # The decision to kill is taken on one reading of what had finished and what runs.
        snapshot.update(finished=finished_pw(node), running=running_pw_jobs(node))
        return bool(snapshot['running']) and kill_when(node, snapshot['finished'], snapshot['running'])

    wait_for(ready, timeout, f'the kill point of {node.process_label}<{node.pk}>', interval=0.2)
    finished_before, running = snapshot['finished'], snapshot['running']
    killed, interim, new, kill_time = interrupt_daemon(client, mode, number_workers)
    wait_for(lambda: node.is_terminated, timeout, f'{node.process_label}<{node.pk}> to finish after the kill')
    calcs = pw_calculations(node)
    record = KillRecord(
        mode=mode,
        process_pk=node.pk,
        exit_status=node.exit_status,
        killed_worker_pids=killed,
        interim_worker_pids=interim,
        new_worker_pids=new,
        finished_before_kill=finished_before,
        running_at_kill=running,
        pw_calculations=len(calcs),
        recomputed=recomputed_pw(node),
        handler_restarts=handler_restarts(node),
        resumed_by_pids=sorted(reporting_pids(node, since=kill_time)),
        job_ids_after={calc.uuid: str(calc.get_job_id()) for calc in calcs if calc.uuid in running},
        seconds=round(time.monotonic() - start, 1),
    )
    return node, record


def write_summary(section: str, entry: dict[str, Any]) -> None:
    """Append ``entry`` to ``section`` of the JSON summary at ``$MLIP_RELIABILITY_SUMMARY`` (if set).

    ``benchmarks/reliability.py`` turns that file into the table of ``benchmarks/reliability.md``.
    """
    path = os.environ.get('MLIP_RELIABILITY_SUMMARY')
    if not path:
        return
    target = Path(path)
    data = json.loads(target.read_text()) if target.is_file() and target.stat().st_size else {}
    data.setdefault(section, []).append(entry)
    target.write_text(json.dumps(data, indent=2, sort_keys=True))


#: What runs in each phase of ``ActiveLearningWorkChain`` (the ``phase`` of its progress extra): the
#: process label of the job that the kill must find running.
PHASE_JOBS = {
    'dft': 'PwCalculation',
    'screening': 'ScreeningCalculation',
    'selection': 'SelectionCalculation',
    'training': 'PacemakerCalculation',
    'md': 'LammpsCalculation',
}


def loop_progress(node: orm.ProcessNode) -> dict[str, Any]:
    """The progress extra the loop writes at each phase (``{}`` before the first)."""
    return node.base.extras.get('mlip_autopipe_progress', {}) or {}


def _slots(process: orm.ProcessNode) -> dict[tuple[int, str], list[int]]:
    """``{(caller pk, link label): [pks]}`` of the processes below ``process``; one pk per slot unless a step reran."""
    slots: dict[tuple[int, str], list[int]] = {}
    for child in process.called_descendants:
        for link in child.base.links.get_incoming(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all():
            slots.setdefault((link.node.pk, link.link_label), []).append(child.pk)
    return slots


def repeated_steps(process: orm.ProcessNode) -> dict[str, list[int]]:
    """Slots below ``process`` that more than one process filled: a step or a job that ran again (must be empty).

    Every step of the loop calls its calcfunction, job or work chain with a link label of its own
    (``train_gen00``, ``md_gen00_T1200``, ...), and so do the restart work chains (``iteration_01``,
    ...); a step that a resumed worker ran again would call a second process under the same label.
    ``CALL``, the label AiiDA gives when none is set, is left out (it names no step).
    """
    return {
        f'{caller}:{label}': pks for (caller, label), pks in _slots(process).items() if len(pks) > 1 and label != 'CALL'
    }


@dataclass
class PhaseKillRecord:
    """What happened to a loop that was killed in a given phase and resumed."""

    mode: str
    phase: str
    generation: int
    process_pk: int
    exit_status: int | None
    job: str
    job_pk: int
    job_id_at_kill: str
    job_alive_at_kill: bool
    job_id_after: str
    job_exit_status: int | None
    killed_worker_pids: list[int]
    interim_worker_pids: list[int]
    new_worker_pids: list[int]
    #: pk -> process label of every process below the loop that had finished when the kill came.
    finished_before_kill: dict[str, str]
    #: Slots of processes finished before the kill and the pk in each after the resume (must be the same).
    slots_before_kill: dict[str, int]
    slots_after: dict[str, int]
    repeated: dict[str, list[int]]
    jobs_per_kind: dict[str, int]
    resumed_by_pids: list[int]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form, for the reliability summary."""
        return asdict(self)


def run_with_kill_in_phase(
    builder,
    client,
    *,
    phase: str,
    generation: int = 0,
    mode: str = 'daemon',
    number_workers: int = 1,
    timeout: float = 600,
) -> tuple[orm.ProcessNode, PhaseKillRecord]:
    """Submit an ``ActiveLearningWorkChain``, kill its daemon in ``phase`` of ``generation``, resume, account.

    The kill comes when the progress extra of the loop says ``phase`` and ``generation`` and a job
    of that phase (``PHASE_JOBS``) below the loop is waiting or running, with its scheduler job alive.
    """
    from aiida.engine import submit

    job_label = PHASE_JOBS[phase]
    start = time.monotonic()
    node = submit(builder)
    found: dict[str, Any] = {}

    def ready() -> bool:
        if node.is_terminated:
            raise RuntimeError(
                f'{node.process_label}<{node.pk}> ended [{node.exit_status}] before {phase} of generation {generation}'
            )
        progress = loop_progress(node)
        if progress.get('phase') != phase or progress.get('generation') != generation:
            return False
        for child in node.called_descendants:
            if child.process_label == job_label and not child.is_terminated and _job_alive(child):
                found['job'] = child
                found['job_id'] = str(child.get_job_id())
                return True
        return False

    wait_for(ready, timeout, f'{job_label} running in {phase} of generation {generation}', interval=0.2)
    job = found['job']
    # What had finished when the kill came, read before it: these must be the ones the resumed run uses.
    finished = {str(child.pk): child.process_label for child in node.called_descendants if child.is_terminated}
    before_slots = {f'{caller}:{label}': pks[0] for (caller, label), pks in _slots(node).items() if label != 'CALL'}
    finished_slots = {slot: pk for slot, pk in before_slots.items() if str(pk) in finished}
    alive = _job_alive(job)
    killed, interim, new, kill_time = interrupt_daemon(client, mode, number_workers)
    wait_for(lambda: node.is_terminated, timeout, f'{node.process_label}<{node.pk}> to finish after the kill')
    after_slots = {f'{caller}:{label}': pks[-1] for (caller, label), pks in _slots(node).items() if label != 'CALL'}
    job = orm.load_node(job.pk)
    record = PhaseKillRecord(
        mode=mode,
        phase=phase,
        generation=generation,
        process_pk=node.pk,
        exit_status=node.exit_status,
        job=job_label,
        job_pk=job.pk,
        job_id_at_kill=found['job_id'],
        job_alive_at_kill=alive,
        job_id_after=str(job.get_job_id()),
        job_exit_status=job.exit_status,
        killed_worker_pids=killed,
        interim_worker_pids=interim,
        new_worker_pids=new,
        finished_before_kill=finished,
        slots_before_kill=finished_slots,
        slots_after={slot: after_slots.get(slot, -1) for slot in finished_slots},
        repeated=repeated_steps(node),
        jobs_per_kind=dict(
            Counter(c.process_label for c in node.called_descendants if c.process_label in PHASE_JOBS.values())
        ),
        resumed_by_pids=sorted(reporting_pids(node, since=kill_time)),
        seconds=round(time.monotonic() - start, 1),
    )
    return node, record
