"""The run commands as a user calls them, on one real small run: ``run``, ``status``, ``report``, ``export``.

One loop per module, submitted with ``aiida-mlip-autopipe run --daemon`` (a subprocess, to a real
daemon of a throwaway profile with a broker, as ``verdi presto`` makes): fcc Al, labelled by the
EMT benchmark oracle (ASE, not DFT: no pw.x), with real pacemaker fits and real LAMMPS MD,
two generations. ``status --watch`` follows it to the end; ``report`` and every format of
``export`` are run on it; ``run --continue-from`` goes on from it in-process. Bad configs given to
``run`` must exit 1 naming the field and create no node. About 2-3 minutes on 2 cores.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from aiida import orm
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cmd_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).parent / 'configs' / 'al_emt_tiny.yaml'
CLI = str(Path(sys.executable).parent / 'aiida-mlip-autopipe')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@dataclass
class CliRun:
    """The module's run: its profile, the node and what ``run --daemon`` printed."""

    profile: str
    node: orm.WorkflowNode
    submit_output: str
    submit_seconds: float
    watch_output: str
    seconds: float


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``.venv/bin/aiida-mlip-autopipe ARGS`` in a subprocess, the environment not activated.

    The test's AIIDA_PATH is inherited; the virtual environment's ``bin`` is taken off PATH, as for a
    user who calls the command by its path without ``source .venv/bin/activate``.
    """
    venv_bin = str(Path(CLI).parent)
    path = os.pathsep.join(p for p in os.environ.get('PATH', '').split(os.pathsep) if p and p != venv_bin)
    env = {**os.environ, 'PATH': path}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)


def invoke(profile: str, *args: str):
    """``aiida-mlip-autopipe -p PROFILE ARGS`` through click's runner, in this process."""
    return CliRunner().invoke(cmd_root, ['-p', profile, *args], catch_exceptions=False)


def node_count() -> int:
    return orm.QueryBuilder().append(orm.Node).count()


def oracle_key() -> str:
    """Where the config takes the benchmark oracle: ``benchmark.oracle``, or ``dft.oracle`` before it moved there."""
    from aiida_mlip_autopipe.config import MLIPConfig

    return 'benchmark.oracle' if 'benchmark' in MLIPConfig.model_fields else 'dft.oracle'


def write_config(folder: Path, changes: dict | None = None, name: str = 'config.yaml') -> Path:
    """The module's config with the EMT oracle and ``changes`` (``{'a.b': value}``; ``None`` deletes)."""
    data = yaml.safe_load(CONFIG.read_text(encoding='utf-8'))
    for dotted, value in {oracle_key(): 'emt', **(changes or {})}.items():
        *parents, key = dotted.split('.')
        section = data
        for part in parents:
            section = section.setdefault(part, {})
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    return path


@pytest.fixture(scope='module')
def cli_profile(aiida_config, aiida_profile_factory, tmp_path_factory):
    """A throwaway profile with a ``core.zeromq`` broker (a daemon can run), the codes of ``setup`` on localhost."""
    from aiida.engine.daemon.client import get_daemon_client

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code, tune_local_polling
    from tests.reliability.harness import stop_daemon

    previous_default = aiida_config.default_profile_name
    with aiida_profile_factory(aiida_config, broker_backend='core.zeromq') as profile:
        aiida_config.set_option('runner.poll.interval', 1, scope=profile.name)
        aiida_config.store()
        orm.Computer(
            label='localhost',
            hostname='localhost',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(tmp_path_factory.mktemp('cli-work')),
        ).store().configure()
        missing = []
        for spec in default_code_specs():
            if Path(spec.executable).is_file():
                ensure_code(spec, computer_label='localhost', echo=lambda _: None)
            elif spec.label != 'pw':  # the oracle run needs no pw.x
                missing.append(spec.label)
        if missing:
            pytest.skip(f'codes not installed: {missing} (bash bin/install)')
        tune_local_polling('localhost', echo=lambda _: None)
        try:
            yield profile.name
        finally:
            stop_daemon(get_daemon_client(profile.name))
            if previous_default:  # the factory made this profile the default one; later tests expect theirs
                aiida_config.set_default_profile(previous_default, overwrite=True)
                aiida_config.store()


@pytest.fixture(scope='module')
def daemon_run(cli_profile, tmp_path_factory) -> CliRun:
    """``run --daemon`` on the module's config (starting the daemon), then ``status --watch`` until it ends."""
    started = time.perf_counter()
    folder = tmp_path_factory.mktemp('cli-config')
    result = cli('-p', cli_profile, 'run', str(write_config(folder)), '--protocol', 'fast', '--daemon')
    submit_seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r'^Submitted ActiveLearningWorkChain<(\d+)>\.$', result.stdout, re.MULTILINE)
    assert match, result.stdout
    node = orm.load_node(int(match.group(1)))
    watch = cli('-p', cli_profile, 'status', str(node.pk), '--watch', '2', timeout=600)
    assert watch.returncode == 0, watch.stdout + watch.stderr
    node = orm.load_node(node.pk)
    assert node.is_terminated, watch.stdout
    return CliRun(cli_profile, node, result.stdout, submit_seconds, watch.stdout, time.perf_counter() - started)


def test_run_daemon_submits_and_the_run_finishes(daemon_run):
    """``run --daemon`` returns at once with the PK and the follow-up commands; the daemon runs it to the end."""
    node = daemon_run.node
    assert node.is_finished_ok, f'[{node.exit_status}] {node.exit_message}'
    assert f'aiida-mlip-autopipe status {node.pk} --watch 10' in daemon_run.submit_output
    assert node.label == 'cli-al-emt'
    section, key = oracle_key().split('.')
    assert node.inputs.config.get_dict()[section][key] == 'emt'
    history = node.outputs.history.get_dict()['generations']
    assert [h['generation'] for h in history] == [0, 1]
    assert node.outputs.training_set.num_frames == sum(h['labels_tried'] - h['labels_failed'] for h in history)
    assert node.outputs.potential.has_active_set
    # Submitted, not run: the command returned long before the run ended.
    run_seconds = (node.mtime - node.ctime).total_seconds()
    assert daemon_run.submit_seconds < run_seconds, (daemon_run.submit_seconds, run_seconds)
    print(
        f'daemon run {node.pk}: run --daemon returned in {daemon_run.submit_seconds:.1f} s, the run took '
        f'{run_seconds:.0f} s; submitted, run and watched in {daemon_run.seconds:.0f} s'
    )


def test_status_watch_follows_the_run_to_its_end(daemon_run):
    out = daemon_run.watch_output
    stamps = re.findall(r'^\[\d\d:\d\d:\d\d\]$', out, re.MULTILINE)
    assert len(stamps) >= 2, out  # refreshed while it ran
    last = out.split(stamps[-1])[-1]
    assert f'ActiveLearningWorkChain<{daemon_run.node.pk}> cli-al-emt: finished [0]' in last
    assert re.search(r'^\s+1\s+\d+\s+\d+\s+\d+/0\s+6\s', last, re.MULTILINE), last
    assert 'stopped by dft_budget' in last


def test_status_watch_on_a_finished_run_prints_once_and_returns(daemon_run):
    started = time.perf_counter()
    result = cli('-p', daemon_run.profile, 'status', str(daemon_run.node.pk), '--watch', '30', timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 30  # did not wait for a refresh
    assert result.stdout.count(f'ActiveLearningWorkChain<{daemon_run.node.pk}>') == 1
    assert 'finished [0]' in result.stdout
    plain = invoke(daemon_run.profile, 'status', str(daemon_run.node.pk))
    assert plain.exit_code == 0
    assert plain.output.strip() == result.stdout.split('\n', 2)[2].strip()  # the same table, without the time


def test_status_of_a_node_that_is_no_run_fails(daemon_run):
    config_pk = daemon_run.node.inputs.config.pk
    result = cli('-p', daemon_run.profile, 'status', str(config_pk))
    assert result.returncode == 2
    assert f'node {config_pk} is not an ActiveLearningWorkChain' in result.stderr


def test_report_writes_markdown_figures_and_provenance(daemon_run, tmp_path):
    folder = tmp_path / 'report'
    started = time.perf_counter()
    result = invoke(daemon_run.profile, 'report', str(daemon_run.node.pk), '-o', str(folder))
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert f'Wrote {folder / "report.md"} with' in result.output
    text = (folder / 'report.md').read_text(encoding='utf-8')
    assert f'# Active-learning run cli-al-emt (PK {daemon_run.node.pk})' in text
    assert '## Phase times (s) per generation' in text
    figures = {'provenance.png', 'learning_curve.png', 'parity.png', 'gamma.png', 'dft_cost.png', 'calibration.png'}
    for name in figures:
        data = (folder / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name  # a real PNG, whatever its name says
        assert f']({name})' in text
    # The provenance figure: every step of the run with its PK, and its dot source beside it.
    dot = (folder / 'provenance.dot').read_text(encoding='utf-8')
    steps = {link.link_label: link.node for link in daemon_run.node.base.links.get_outgoing().all()}
    called = daemon_run.node.called
    assert len(called) >= 15
    for child in called:
        assert f's{child.pk} [label="' in dot and f'{child.process_label}<{child.pk}>' in dot
    for label in ('generate_gen00', 'label_gen00', 'train_gen00', 'extract_gen01'):
        assert label in steps and label in dot
    assert f's{steps["label_gen00"].pk} -> s{steps["train_gen00"].pk} [label="training_set"]' in dot
    assert f's{steps["train_gen00"].pk} -> s{steps["md_start_gen00"].pk}' not in dot  # no data went there
    assert 'not drawn' not in text
    assert '-f svg -O provenance-full.svg --process-out --process-in' in text  # the full graph: a hint
    print(f'report with provenance figure in {seconds:.1f} s')


def _check_extxyz(path: Path, run: orm.WorkflowNode) -> None:
    from ase.io import read

    frames = read(path, ':')
    stored = run.outputs.training_set.get_frames()
    assert len(frames) == len(stored) == run.outputs.training_set.num_frames
    assert [f.get_potential_energy() for f in frames] == pytest.approx([f.get_potential_energy() for f in stored])
    assert np.allclose(frames[-1].get_forces(), stored[-1].get_forces())


def _check_pacemaker(path: Path, run: orm.WorkflowNode) -> None:
    import pandas as pd

    frame = pd.read_pickle(path, compression='gzip')
    assert len(frame) == run.outputs.training_set.num_frames
    assert {'ase_atoms', 'energy', 'energy_corrected', 'forces'} <= set(frame.columns)
    energies = [f.get_potential_energy() for f in run.outputs.training_set.get_frames()]
    assert list(frame['energy']) == pytest.approx(energies)


def _check_yace(path: Path, run: orm.WorkflowNode) -> None:
    from pyace import PyACECalculator

    potential = run.outputs.potential
    names = {p.name for p in path.iterdir()}
    assert names == {potential.FILENAME_YAML, potential.FILENAME_YACE, potential.FILENAME_ASI}, names
    for name in names:  # the stored files, byte for byte
        assert (path / name).read_bytes() == potential.base.repository.get_object_content(name, mode='rb'), name
    species = yaml.safe_load((path / potential.FILENAME_YAML).read_text(encoding='utf-8'))['species']
    assert [block['speciesblock'] for block in species] == ['Al']
    # The exported .yace is a potential LAMMPS/pyace can evaluate.
    atoms = run.outputs.training_set.get_frames()[0]
    atoms.calc = PyACECalculator(str(path / potential.FILENAME_YACE))
    assert np.isfinite(atoms.get_potential_energy())


EXPORT_CHECKS = {'extxyz': ('train.extxyz', _check_extxyz), 'pacemaker': ('train.pckl.gzip', _check_pacemaker)}
EXPORT_CHECKS['yace'] = ('potential', _check_yace)


def _export_formats() -> list[str]:
    from aiida_mlip_autopipe.cli.run import cmd_export

    (option,) = [p for p in cmd_export.params if p.name == 'fmt']
    return list(option.type.choices)


def test_every_export_format_has_a_check():
    assert sorted(_export_formats()) == sorted(EXPORT_CHECKS)


@pytest.mark.parametrize('fmt', _export_formats())
def test_export(daemon_run, tmp_path, fmt):
    name, check = EXPORT_CHECKS[fmt]
    target = tmp_path / name
    result = invoke(daemon_run.profile, 'export', str(daemon_run.node.pk), '--format', fmt, '-o', str(target))
    assert result.exit_code == 0, result.output
    assert str(target) in result.output
    check(target, daemon_run.node)


def test_export_of_a_node_without_a_potential_fails(daemon_run, tmp_path):
    config_pk = daemon_run.node.inputs.config.pk
    result = cli('-p', daemon_run.profile, 'export', str(config_pk), '--format', 'yace', '-o', str(tmp_path / 'p'))
    assert result.returncode == 2
    assert f'node {config_pk} has no potential' in result.stderr
    assert not (tmp_path / 'p').exists()


def test_run_in_process_continues_from_the_finished_run(daemon_run, tmp_path):
    """``run --continue-from PK`` (in this process): the labels and potential of the run are its start."""
    previous = daemon_run.node
    before = {n.pk for n in orm.QueryBuilder().append(orm.WorkflowNode, project='*').all(flat=True)}
    config = write_config(tmp_path, {'loop.max_generations': 1, 'loop.dft_budget': 9, 'name': 'cli-al-emt-more'})
    result = invoke(daemon_run.profile, 'run', str(config), '--protocol', 'fast', '--continue-from', str(previous.pk))
    match = re.search(r'^ActiveLearningWorkChain<(\d+)> finished \[(\d+)\]', result.output, re.MULTILINE)
    assert match, result.output
    node = orm.load_node(int(match.group(1)))
    assert node.pk not in before
    assert result.exit_code == 0 and node.is_finished_ok, result.output
    assert node.inputs.initial_training_set.uuid == previous.outputs.training_set.uuid
    assert node.inputs.initial_potential.uuid == previous.outputs.potential.uuid
    start = previous.outputs.training_set.num_frames
    assert node.outputs.training_set.num_frames > start  # it labelled more on top
    fits = sorted((c for c in node.called_descendants if c.process_label == 'PacemakerCalculation'), key=lambda c: c.pk)
    assert fits and fits[0].inputs.initial_potential.uuid == previous.outputs.potential.uuid  # warm start


def test_continue_from_a_node_that_is_no_run_creates_nothing(daemon_run, tmp_path):
    count = node_count()
    config_pk = daemon_run.node.inputs.config.pk
    result = invoke(daemon_run.profile, 'run', str(write_config(tmp_path)), '--continue-from', str(config_pk))
    assert result.exit_code == 2
    assert f'node {config_pk} is not an ActiveLearningWorkChain' in result.output
    assert node_count() == count


BAD_CONFIGS = {
    'unknown-key': ({'dft.kpoint_distance': 0.3}, 'dft.kpoint_distance', "did you mean 'kpoints_distance'"),
    'wrong-type': ({'selection.n_select': 'many'}, 'selection.n_select', 'valid integer'),
    'out-of-range': ({'training.maxiter': -5}, 'training.maxiter', 'greater than or equal to 1'),
    'oracle-element': (
        {'target.elements': ['Si'], 'target.prototype': 'diamond', 'target.lattice_constant': 5.43},
        oracle_key(),
        "no parameters for ['Si']",
    ),
    'unknown-code': ({'training.code': 'pacemaker@nowhere'}, 'training.code', 'verdi code list'),
}


@pytest.mark.parametrize('daemon', [False, True], ids=['in-process', 'daemon'])
@pytest.mark.parametrize('case', sorted(BAD_CONFIGS))
def test_bad_config_exits_1_naming_the_field_and_creates_no_node(cli_profile, tmp_path, case, daemon):
    changes, field, fragment = BAD_CONFIGS[case]
    path = write_config(tmp_path, copy.deepcopy(changes))
    count = node_count()
    result = invoke(cli_profile, 'run', str(path), *(['--daemon'] if daemon else []))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if field in line]
    assert lines, result.output
    assert any(fragment in line for line in lines), result.output
    assert 'Traceback' not in result.output and 'Submitted' not in result.output
    assert node_count() == count


def test_bad_config_file_missing(cli_profile, tmp_path):
    count = node_count()
    result = invoke(cli_profile, 'run', str(tmp_path / 'nope.yaml'))
    assert result.exit_code == 1
    assert 'config file not found' in result.output
    assert node_count() == count
