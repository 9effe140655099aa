"""Commands about the configuration file: ``validate`` and ``schema``."""

from __future__ import annotations

import json

import click

from .root import cmd_root


def _profile_loaded() -> bool:
    from aiida.manage import get_manager

    return get_manager().get_profile() is not None


@cmd_root.command('validate')
@click.argument('config_file', type=click.Path(dir_okay=False))
@click.option(
    '--profile-checks/--no-profile-checks',
    default=True,
    show_default=True,
    help='Also check codes and pseudopotential families in the AiiDA profile.',
)
def cmd_validate(config_file: str, profile_checks: bool) -> None:
    """Check CONFIG_FILE; exit 1 listing every problem, or print a summary.

    Nothing is stored and nothing is submitted.
    """
    from aiida_mlip_autopipe.config import ConfigError, check_against_profile, load_config

    try:
        config = load_config(config_file)
    except ConfigError as exc:
        click.echo(exc.format(), err=True)
        raise SystemExit(1) from None
    if profile_checks and _profile_loaded():
        problems = check_against_profile(config)
        if problems:
            click.echo(ConfigError(problems, config_file).format(), err=True)
            raise SystemExit(1)
    elif profile_checks:
        click.echo('No AiiDA profile: codes and pseudopotential families were not checked.', err=True)
    click.echo(summarise(config))


def summarise(config) -> str:
    """A one-screen summary of a validated configuration."""
    t, dft, tr, ex, lp = config.target, config.dft, config.training, config.exploration, config.loop
    structure = t.prototype if t.structure_file is None else t.structure_file
    composition = ', '.join(f'{e} {x:g}' for e, x in (t.composition or {}).items())
    ops = ' -> '.join(op.kind for op in config.generator.operations) or 'none'
    magnetization = dft.magnetization_for(t.elements)
    lines = [
        f'Configuration {config.name!r} is valid.',
        f'  target       {"-".join(t.elements)} ({composition}), {structure}, supercells of {t.supercell_atoms} atoms'
        + (' (SQS)' if t.is_alloy else ''),
        f'  generator    {ops}; at most {config.generator.max_candidates} candidates',
        f'  screening    {config.screening.model}, max |F| {config.screening.max_force} eV/Å',
        f'  selection    {config.selection.n_select} per generation ({_selection_method(config.selection)})',
        f'  DFT          {dft.code}, protocol {dft.protocol}, {dft.pseudo_family}, '
        f'k-spacing {dft.kpoints_distance} /Å, '
        + (f'spin-polarised {magnetization}' if magnetization else 'spin-unpolarised')
        if config.benchmark.oracle is None
        # issue 9: say loudly that the labels of this run are not DFT
        else f'  DFT          BENCHMARK ORACLE {config.benchmark.oracle!r} (ASE), NOT DFT: for method benchmarks only',
        f'  training     {tr.code}, cutoff {tr.cutoff} Å, {tr.functions_per_element} functions/element, '
        f'{tr.optimizer} {tr.maxiter} iterations',
        f'  exploration  {ex.code}, {ex.ensemble.upper()} at {ex.temperatures} K, {ex.n_steps} steps; '
        f'gamma dump > {ex.gamma_lower}, halt > {ex.gamma_upper}',
        f'  stop         {lp.max_generations} generations, {lp.dft_budget} DFT labels, stable below '
        f'{lp.stable_fraction:.1%} uncertain frames',
    ]
    return '\n'.join(lines)


@cmd_root.command('schema')
@click.option('--indent', default=2, show_default=True, help='JSON indentation.')
def cmd_schema(indent: int) -> None:
    """Print the JSON schema of the configuration file."""
    from aiida_mlip_autopipe.config import MLIPConfig

    click.echo(json.dumps(MLIPConfig.model_json_schema(), indent=indent))


def _selection_method(selection) -> str:
    """How the selection picks, in words for ``validate``."""
    method = getattr(selection, 'method', 'fps')
    if method == 'doptimal':
        return 'D-optimal on the ACE basis; MaxVol on an untrained basis before the first fit'
    return 'FPS on SOAP'
