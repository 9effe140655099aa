"""The loop's bookkeeping: one record per generation, what its MD runs, fit and calibration amount to.

The records are plain dicts in the work chain's context (and, once the run ends, in its
``history`` output); the stop rules read them. Everything here counts or formats; the
work chain decides what to do with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiida import orm

__all__ = (
    'calibration_line',
    'calibration_settings',
    'child_seconds',
    'first_fit_line',
    'first_fit_minimum',
    'fit_line',
    'fit_summary',
    'holdout_line',
    'labels_line',
    'md_line',
    'new_record',
    'pool_line',
    'progress',
    'record_calibration',
    'record_fit',
    'record_holdout',
    'record_labelling',
    'setup_line',
    'tally_md',
    'validation_line',
)


def new_record(generation: int, labels_total: int, holdout_total: int = 0) -> dict[str, Any]:
    """The empty record of ``generation``, starting from ``labels_total`` labels (``holdout_total`` held out)."""
    return {
        'generation': generation,
        'candidates': 0,
        'screened_out': 0,
        'selected': 0,
        'labels_tried': 0,
        'labels_failed': 0,
        'labels_total': labels_total,
        'train_frames': 0,
        'md_runs': 0,
        'md_failed': 0,
        'md_halted': 0,
        'new_candidates': 0,
        'holdout_total': holdout_total,
        'timings': {},
    }


def progress(ctx: Mapping[str, Any], phase: str) -> dict[str, Any]:
    """The progress extra of a running loop (what ``aiida-mlip-autopipe status`` shows); no provenance."""
    import time

    return {
        'generation': ctx['generation'],
        'phase': phase,
        'updated': time.time(),
        'history': ctx['history'],
        'gamma_lower': ctx['gamma_lower'],
        'stop': ctx['stop'],
    }


def setup_line(cfg: Any, labels_total: int) -> str:
    """The first report line of a run: what it is for, its budgets, and what it continues from."""
    return (
        f'run {cfg.name!r}: {"-".join(cfg.target.elements)}, up to {cfg.loop.max_generations} generations and '
        f'{cfg.loop.dft_budget} DFT labels' + (f'; continuing from {labels_total} labels' if labels_total else '')
    )


def pool_line(generation: int, uncertain: int, pool: int, gamma_lower: float) -> str:
    """The report line of pool scoring: how many unlabelled candidates the current potential extrapolates on."""
    return (
        f'generation {generation}: {uncertain} of {pool} unlabelled pool candidates have gamma above '
        f'{gamma_lower:.2f} under the current potential'
    )


def labels_line(generation: int, new: int, record: Mapping[str, Any]) -> str:
    """The report line after a labelling: new labels, failures, size of the training set."""
    return (
        f'generation {generation}: {new} new labels ({record["labels_failed"]} failed), '
        f'{record["labels_total"]} in the training set'
    )


def child_seconds(node: orm.ProcessNode) -> float:
    """Wall time of a finished child, from its creation to its last change."""
    return max(0.0, (node.mtime - node.ctime).total_seconds())


def first_fit_minimum(cfg: Any, candidates: Mapping[str, orm.StructureData], labelled: bool) -> int:
    """``selection.n_select``, raised before the first fit so that it can build its active set.

    pace_activeset needs at least as many atomic environments per element as basis
    functions; each pick is counted as a candidate of the pool's mean size.
    """
    n = cfg.selection.n_select
    if labelled or not candidates:
        return n
    sizes = [len(node.sites) for node in candidates.values()]
    smallest = sum(sizes) / len(sizes)
    fraction = min((cfg.target.composition or {}).values() or [1.0])
    # pace_activeset drops force-error outliers before it builds the set: keep a margin.
    needed = 1.5 * cfg.training.functions_per_element / max(1e-9, 1 - cfg.training.test_fraction)
    picks = int(-(-needed // max(1e-9, smallest * fraction)))
    return max(n, picks)


def first_fit_line(cfg: Any, wanted: int) -> str:
    """The report line when the first generation selects more than ``selection.n_select``."""
    return (
        f'generation 0: selecting up to {wanted} instead of {cfg.selection.n_select} so that the first fit sees at '
        f'least {cfg.training.functions_per_element} environments per element (needed for the active set)'
    )


def record_labelling(record: dict[str, Any], node: orm.WorkflowNode, tried: int) -> None:
    """Write what a ``LabellingWorkChain`` cost and how many of its ``tried`` labels failed into ``record``."""
    record['timings']['dft'] = round(child_seconds(node), 3)
    record['labels_tried'] = tried
    if 'failures' in node.outputs:
        record['labels_failed'] = node.outputs.failures.get('num_failed', 0)
        record['failures_uuid'] = node.outputs.failures.uuid


def _blow_up_statuses() -> set[int]:
    """Exit statuses of LammpsCalculation that mean the MD blew up (uncertainty, not an error)."""
    from aiida.plugins import CalculationFactory

    calc = CalculationFactory('mlip_autopipe.lammps')
    return {code.status for name, code in calc.exit_codes.items() if 'BLOW' in name or 'UNSTABLE' in name}


def tally_md(
    record: dict[str, Any], runs: Mapping[str, orm.CalcJobNode], generation: int
) -> tuple[dict[str, orm.TrajectoryData], int, list[orm.CalcJobNode], orm.Dict]:
    """Count one generation's MD runs into ``record``: runs, failures, halts, uncertain fraction, max gamma.

    The numbers come from :func:`~aiida_mlip_autopipe.loop.decisions.tally_exploration`, a
    calcfunction on the runs' summaries, so the graph holds what the stop rules read. Returns the
    uncertain-frame trajectories (``md_000``... in launch order), the MD steps counted, the failed
    runs and the tally node.
    """
    from aiida_mlip_autopipe.loop.decisions import tally_exploration

    blow_ups = _blow_up_statuses()
    meta, summaries, trajectories, failed = {}, {}, {}, []
    md_seconds = 0.0
    from aiida_mlip_autopipe.loop.restarts import calculation_settings, last_calculation

    for i, (label, node) in enumerate(runs.items()):
        md_seconds += child_seconds(node)
        calculation = last_calculation(node)  # a LammpsBaseWorkChain accepts a blow-up: its calculation says so
        blow_up = calculation.exit_status in blow_ups
        meta[label] = {
            'pk': node.pk,
            'exit_status': node.exit_status,
            'finished_ok': node.is_finished_ok,
            'blow_up': blow_up,
            'n_steps': int(calculation_settings(node).get('n_steps', 0)) or None,
        }
        if 'summary' in node.outputs:
            summaries[label] = node.outputs.summary
            blow_up = blow_up or bool(node.outputs.summary.get('blow_up'))
        if not node.is_finished_ok and not blow_up:
            failed.append(node)
        elif 'uncertain_frames' in node.outputs:
            trajectories[f'md_{i:03d}'] = node.outputs.uncertain_frames
    tally = tally_exploration(
        runs=orm.Dict(meta), **summaries, metadata={'call_link_label': f'tally_exploration_gen{generation:02d}'}
    )
    counts = tally.get_dict()
    for key in ('md_runs', 'md_failed', 'md_halted', 'uncertain_fraction', 'max_gamma'):
        record[key] = counts[key]
    record['timings']['md'] = round(md_seconds, 3)
    return trajectories, counts['steps_total'], failed, tally


def md_line(generation: int, record: Mapping[str, Any], steps_total: int, gamma_lower: float) -> str:
    """The report line of a generation's exploration: runs, halts, max gamma, uncertain fraction."""
    return (
        f'generation {generation}: {record["md_runs"]} MD runs, {record["md_halted"]} halted, max gamma '
        f'{record["max_gamma"]:.2f}, {(record["uncertain_fraction"] or 0.0):.1%} of {steps_total} MD steps above '
        f'gamma {gamma_lower:.2f}'
    )


def record_fit(record: dict[str, Any], node: orm.CalcJobNode, train_frames: int) -> dict[str, Any]:
    """Write a successful fit's errors and potential into ``record``; return its metrics."""
    metrics = node.outputs.metrics.get_dict()
    record['train_frames'] = train_frames
    for key in ('train_force_rmse', 'test_force_rmse', 'train_energy_rmse', 'test_energy_rmse'):
        if key in metrics:
            record[key] = metrics[key]
    record['potential_uuid'] = node.outputs.potential.uuid
    record['fit_pk'] = node.pk
    return metrics


def fit_line(generation: int, metrics: Mapping[str, Any]) -> str:
    """The report line of a finished fit (train errors, and the test force error when there is one)."""
    return (
        f'generation {generation}: fit done: RMSE E {metrics.get("train_energy_rmse", float("nan")):.1f} meV/atom, '
        f'F {metrics.get("train_force_rmse", float("nan")):.1f} meV/Å (train)'
        + (f', F {metrics["test_force_rmse"]:.1f} meV/Å (test)' if metrics.get('test_force_rmse') is not None else '')
    )


def calibration_settings(cfg: Any, gamma_lower: float) -> dict[str, Any]:
    """The ``settings`` of ``calibrate_gamma`` from the ``uncertainty`` section and the current threshold."""
    return {
        'gamma_lower': gamma_lower,
        'bounds': list(cfg.uncertainty.bounds),
        'error_target': cfg.uncertainty.error_target,
        'adjust': cfg.uncertainty.calibrate,
        'min_spearman': cfg.uncertainty.min_spearman,
    }


def record_calibration(record: dict[str, Any], data: Mapping[str, Any], uuid: str) -> None:
    """Write the previous potential's error on the new labels, and the calibration verdict, into ``record``."""
    record['prediction_force_rmse'] = data.get('force_rmse')
    record['calibration'] = {
        'spearman': data.get('spearman'),
        'measured_threshold': data.get('measured_threshold'),
        'gamma_lower_after': data.get('gamma_lower_after'),
        'trusted': data.get('trusted', True),
        'uuid': uuid,
    }


def calibration_line(generation: int, data: Mapping[str, Any], gamma_lower: float) -> str:
    """The report line of a gamma calibration: error on unseen labels, rank correlation, threshold change."""
    rho = data.get('spearman')
    return (
        f'generation {generation}: previous potential on the new labels: '
        f'force RMSE {data.get("force_rmse") or 0:.1f} meV/Å; '
        f'gamma calibration on {data.get("n_atoms")} atoms: Spearman(gamma, |dF|) = '
        + (f'{rho:.2f}' if rho is not None else 'n/a')
        + f'; error {data["error_target"]} eV/Å reached from gamma '
        + (f'{data["measured_threshold"]:.2f}' if data.get('measured_threshold') is not None else 'never')
        + (f'; gamma_lower {gamma_lower:.2f} -> {data["gamma_lower_after"]:.2f}' if data['adjusted'] else '')
        + (
            f'; gamma_lower kept at {gamma_lower:.2f}: gamma does not rank the errors '
            f'(Spearman below {data["min_spearman"]:.2f})'
            if not data.get('trusted', True) and data.get('measured_threshold') is not None
            else ''
        )
    )


def validation_line(data: Mapping[str, Any]) -> str:
    """The report line of a validation: E–V fits of ACE and DFT, phonons, the stability MD."""
    ev = data.get('ev', {})
    lines = []
    failed = [f'{who}: {ev[who]["fit_failed"]}' for who in ('ace', 'dft') if 'fit_failed' in ev.get(who, {})]
    if failed:
        lines.append('E–V ' + '; '.join(failed))
    elif 'dft' in ev:
        lines.append(
            f'V0 ACE {ev["ace"]["v0"]:.3f} / DFT {ev["dft"]["v0"]:.3f} Å³/atom, '
            f'B ACE {ev["ace"]["bulk_modulus"]:.0f} / DFT {ev["dft"]["bulk_modulus"]:.0f} GPa'
        )
    if 'phonons' in data:
        ph = data['phonons']
        lines.append(
            f'phonons: lowest {ph["lowest_thz"]:.2f} THz, imaginary at {ph["imaginary_at"] or "none"}'
            + (f', MAE vs DFT {ph["mae_thz"]:.2f} THz' if 'mae_thz' in ph else '')
        )
    if 'verdicts' in data:
        from aiida_mlip_autopipe.validation.core import verdict_line

        lines.append(verdict_line(data['verdicts']))
    if 'md' in data:
        md = data['md']
        verdict = 'stable' if md['stable'] else f'UNSTABLE: {md.get("reason")}'
        lines.append(f'stability MD at {md["temperature"]} K: {verdict}')
    return 'validation: ' + '; '.join(lines)


def record_holdout(record: dict[str, Any], errors: Mapping[str, Any], tolerance: float) -> str | None:
    """Write the held-out errors of the new (and previous) potential into ``record``; return a regression, or None.

    A regression: the new potential's energy or force RMSE on the held-out set exceeds the
    previous potential's on the same frames by more than ``tolerance`` (a fraction).
    """
    new = errors['new']
    record['holdout_energy_rmse'] = new['energy_rmse']
    record['holdout_force_rmse'] = new['force_rmse']
    record['holdout_frames'] = new['n_frames']
    previous = errors.get('previous')
    if not previous:
        return None
    record['holdout_energy_rmse_previous'] = previous['energy_rmse']
    record['holdout_force_rmse_previous'] = previous['force_rmse']
    worse = [
        f'{what} RMSE {new[key]:.1f} vs {previous[key]:.1f} {unit}'
        for key, what, unit in (('energy_rmse', 'energy', 'meV/atom'), ('force_rmse', 'force', 'meV/Å'))
        if new[key] is not None and previous[key] is not None and new[key] > (1 + tolerance) * previous[key]
    ]
    if not worse:
        return None
    message = f'held-out {"; ".join(worse)} (new vs previous potential, tolerance {tolerance:.0%})'
    record['fit_regression'] = message
    return message


def holdout_line(generation: int, errors: Mapping[str, Any]) -> str:
    """The report line of a fit measured on the held-out set (and its predecessor on the same frames)."""
    new, previous = errors['new'], errors.get('previous')
    line = (
        f'generation {generation}: held-out set ({new["n_frames"]} labels): new potential E {new["energy_rmse"]:.1f} '
        f'meV/atom, F {new["force_rmse"]:.1f} meV/Å'
    )
    if previous:
        line += f'; previous E {previous["energy_rmse"]:.1f} meV/atom, F {previous["force_rmse"]:.1f} meV/Å'
    return line


def fit_summary(node: orm.CalcJobNode) -> dict[str, Any]:
    """Errors, size and convergence of a finished fit (from its metrics)."""
    metrics = node.outputs.metrics.get_dict()
    keys = ('train_energy_rmse', 'train_force_rmse', 'test_energy_rmse', 'test_force_rmse', 'iterations', 'converged')
    return {key: metrics.get(key) for key in keys if key in metrics}
