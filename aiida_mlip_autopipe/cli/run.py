"""Commands about runs: ``run``, ``status``, ``report``, ``export``."""

from __future__ import annotations

import time

import click

from .root import cmd_root

PROTOCOLS = click.Choice(['fast', 'balanced', 'stringent'])


def _load_run(pk: int):
    from aiida import orm

    node = orm.load_node(pk)
    if node.process_type is None or not node.process_type.endswith('mlip_autopipe.active_learning'):
        raise click.BadParameter(f'node {pk} is not an ActiveLearningWorkChain ({node.process_type})', param_hint='PK')
    return node


@cmd_root.command('run')
@click.argument('config_file', type=click.Path(dir_okay=False))
@click.option('--protocol', type=PROTOCOLS, default=None, help='Presets the config values you did not set.')
@click.option('--daemon', is_flag=True, help='Submit to the daemon (started if needed) and return at once.')
@click.option(
    '--continue-from', 'continue_from', type=int, help='PK of a finished run: start from its labels and potential.'
)
@click.option(
    '--screening-model', type=str, help='Override screening.model (a MACE model file, chgnet, mace_mp:small...).'
)
def cmd_run(config_file, protocol, daemon, continue_from, screening_model):
    """Validate CONFIG_FILE, build the ActiveLearningWorkChain and run (or submit) it."""
    from aiida.engine import run_get_node, submit

    from aiida_mlip_autopipe.config import ConfigError, check_against_profile, load_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    try:
        config = load_config(config_file)
    except ConfigError as exc:
        click.echo(exc.format(), err=True)
        raise SystemExit(1) from None
    problems = check_against_profile(config)
    if problems:
        click.echo(ConfigError(problems, config_file).format(), err=True)
        raise SystemExit(1)
    extra = {}
    if continue_from is not None:
        previous = _load_run(continue_from)
        for key, name in (('training_set', 'initial_training_set'), ('potential', 'initial_potential')):
            if key in previous.outputs:
                extra[name] = previous.outputs[key]
        if not extra:
            raise click.BadParameter(f'run {continue_from} has no training set or potential to continue from')
    try:
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            config, protocol=protocol, screening_model=screening_model, **extra
        )
    except (ValueError, FileNotFoundError) as exc:
        click.echo(f'Error: {exc}', err=True)
        raise SystemExit(1) from None
    builder.metadata.label = config.name
    if daemon:
        _ensure_daemon()
        node = submit(builder)
        click.echo(f'Submitted ActiveLearningWorkChain<{node.pk}>.')
        click.echo(f'  aiida-mlip-autopipe status {node.pk} --watch 10    # live progress')
        click.echo(f'  verdi process report {node.pk}')
        return
    _, node = run_get_node(builder)
    click.echo(f'ActiveLearningWorkChain<{node.pk}> finished [{node.exit_status}] {node.exit_message or ""}')
    raise SystemExit(0 if node.is_finished_ok else 1)


def _ensure_daemon() -> None:
    import sys
    from pathlib import Path

    from aiida.engine.daemon import client as daemon_client

    verdi = Path(sys.executable).parent / 'verdi'
    if daemon_client.VERDI_BIN is None and verdi.is_file():
        # A virtual environment used without activating it (`.venv/bin/aiida-mlip-autopipe run --daemon`):
        # AiiDA looks for `verdi` on PATH only; the one beside this Python is the right one.
        daemon_client.VERDI_BIN = str(verdi)
    client = daemon_client.get_daemon_client()
    if not client.is_daemon_running:
        click.echo('Starting the AiiDA daemon (verdi daemon start).')
        client.start_daemon(number_workers=1)


@cmd_root.command('status')
@click.argument('pk', type=int)
@click.option('--watch', type=float, default=None, metavar='SECONDS', help='Refresh every SECONDS until the run ends.')
def cmd_status(pk, watch):
    """Per generation: candidates, labels done/failed, RMSE, max gamma, and the stop rule closest to firing."""
    from aiida_mlip_autopipe.report.collect import collect_run
    from aiida_mlip_autopipe.report.document import status_table

    while True:
        node = _load_run(pk)
        run = collect_run(node)
        table = status_table(run)
        if watch:
            click.echo(f'\n[{time.strftime("%H:%M:%S")}]')
        click.echo(table)
        if not watch or run.finished:
            break
        time.sleep(watch)


@cmd_root.command('report')
@click.argument('pk', type=int)
@click.option(
    '-o', '--output', 'output', type=click.Path(file_okay=False), default=None, help='Folder (default report-PK).'
)
def cmd_report(pk, output):
    """Write a Markdown report with PNG figures of a run (running or finished)."""
    from aiida_mlip_autopipe.report.collect import collect_run
    from aiida_mlip_autopipe.report.document import write_report

    started = time.perf_counter()
    run = collect_run(_load_run(pk))
    path = write_report(run, output or f'report-{pk}')
    figures = sorted(p.name for p in path.parent.glob('*.png'))
    click.echo(
        f'Wrote {path} with {len(figures)} figures: {", ".join(figures)} ({time.perf_counter() - started:.1f} s)'
    )


@cmd_root.command('export')
@click.argument('pk', type=int)
@click.option(
    '--format', 'fmt', type=click.Choice(['extxyz', 'pacemaker', 'yace']), default='extxyz', show_default=True
)
@click.option(
    '-o', '--output', 'output', type=click.Path(), required=True, help='File (extxyz, pacemaker) or folder (yace).'
)
def cmd_export(pk, fmt, output):
    """Export the training set (extxyz, pacemaker DataFrame) or the potential files (yace, yaml, asi)."""
    from pathlib import Path

    from aiida import orm

    node = orm.load_node(pk)
    outputs = node.outputs if isinstance(node, orm.ProcessNode) else None
    if fmt in ('extxyz', 'pacemaker'):
        training_set = outputs.training_set if outputs is not None and 'training_set' in outputs else node
        if not hasattr(training_set, 'get_frames'):
            raise click.BadParameter(f'node {pk} has no training set', param_hint='PK')
        if fmt == 'extxyz':
            training_set.write_extxyz(output)
        else:
            training_set.to_dataframe().to_pickle(output, compression='gzip', protocol=4)
        click.echo(f'Wrote {training_set.num_frames} frames to {output} ({fmt}).')
        return
    potential = outputs.potential if outputs is not None and 'potential' in outputs else node
    if not hasattr(potential, 'write_files'):
        raise click.BadParameter(f'node {pk} has no potential', param_hint='PK')
    paths = potential.write_files(Path(output))
    click.echo('Wrote ' + ', '.join(str(p) for p in paths.values()))
