"""The run report: a status table for the terminal and a Markdown document with figures."""

from __future__ import annotations

import time
from pathlib import Path

from aiida_mlip_autopipe.report import plots
from aiida_mlip_autopipe.report.collect import RunData

__all__ = ('status_table', 'write_report')


def _fmt(value, spec: str = '.1f', missing: str = '-') -> str:
    return missing if value is None else format(value, spec)


def status_table(run: RunData) -> str:
    """One line per generation: phase, labels, RMSE, gamma; then the closest stop rule."""
    from aiida_mlip_autopipe.loop.stop_rules import closest_rule

    lines = [
        f'ActiveLearningWorkChain<{run.pk}> {run.label}: {run.state}'
        + (f' [{run.exit_status}]' if run.exit_status is not None else '')
        + (f', phase {run.phase}' if run.phase and not run.finished else ''),
        f'{"gen":>3} {"cand":>5} {"sel":>4} {"labels ok/fail":>14} {"total":>6} {"F RMSE":>8} {"new F":>8} '
        f'{"MD":>3} {"halt":>4} {"max γ":>7} {"uncert.":>8}  time (s)',
    ]
    for h in run.history:
        ok = h.get('labels_tried', 0) - h.get('labels_failed', 0)
        labels = f'{ok}/{h.get("labels_failed", 0)}'
        timings = h.get('timings', {})
        lines.append(
            f'{h["generation"]:>3} {h.get("candidates", 0):>5} {h.get("selected", 0):>4} '
            f'{labels:>14} {h.get("labels_total", 0):>6} '
            f'{_fmt(h.get("train_force_rmse")):>8} {_fmt(h.get("prediction_force_rmse")):>8} '
            f'{h.get("md_runs", 0):>3} {h.get("md_halted", 0):>4} {_fmt(h.get("max_gamma"), ".2f"):>7} '
            f'{_fmt(h.get("uncertain_fraction"), ".1%"):>8}  {sum(timings.values()):.0f}'
        )
    lines.append(
        'F RMSE: train force RMSE of the fit (meV/Å); new F: the previous potential on this '
        "generation's new labels, which it never saw; uncert.: MD steps above gamma_lower"
    )
    lines.extend(failure_lines(run.history))
    if run.stop:
        lines.append(f'stopped by {run.stop.get("rule")}: {run.stop.get("message")}')
    elif run.history and run.config.get('loop'):
        rule, progress = closest_rule(run.history, run.config['loop'])
        lines.append(f'closest stop rule: {rule} ({progress:.0%} of the way)')
    if run.exit_message:
        lines.append(f'exit message: {run.exit_message}')
    return '\n'.join(lines)


def failure_lines(history: list[dict]) -> list[str]:
    """What went wrong in each generation, where, and what the loop did about it (one line each)."""
    lines = []
    for h in history:
        g = h['generation']
        for failure in h.get('fit_failures', []):
            calc = failure.get('calculation')
            where = f'<{failure["pk"]}>' + (
                f' (PacemakerCalculation<{calc["pk"]}> [{calc["exit_status"]}])' if calc else ''
            )
            then = (
                f'explored with the previous potential <{h["potential_reused"]}>'
                if h.get('potential_reused')
                else 'no potential to explore with'
                if not h.get('potential_uuid')
                else 'a later fit succeeded'
            )
            lines.append(f'! generation {g}: fit{where} failed [{failure["exit_status"]}] {failure["message"]}; {then}')
        if h.get('labels_failed'):
            lines.append(f'! generation {g}: {h["labels_failed"]} labels failed (recorded in the failures output)')
        if h.get('md_failed'):
            lines.append(f'! generation {g}: {h["md_failed"]} of {h.get("md_runs", 0)} MD runs failed')
        if h.get('fit_regression'):
            lines.append(
                f'! generation {g}: fit regression on the held-out set: {h["fit_regression"]}; kept the previous'
            )
    return lines


def write_report(run: RunData, folder: str | Path) -> Path:
    """Write ``report.md`` and its PNG figures into ``folder``; return the Markdown path."""
    started = time.perf_counter()  # issue 9: the report's own time goes into the phase table
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = [
        ('learning_curve.png', plots.plot_learning_curve, 'Learning curve: RMSE against the number of DFT labels.'),
        ('parity.png', plots.plot_parity, 'Final potential against DFT on its training set.'),
        ('gamma.png', plots.plot_gamma, 'Extrapolation grade seen in exploration, per generation.'),
        ('calibration.png', plots.plot_calibration, 'Gamma calibration: real force error per gamma bin.'),
        ('dft_cost.png', plots.plot_dft_cost, 'DFT cost per generation.'),
        ('ev.png', plots.plot_ev, 'Energy–volume curve, ACE against DFT.'),
        ('phonons.png', plots.plot_phonons, 'Phonon frequencies, ACE against DFT.'),
    ]
    made = []
    for name, function, caption in figures:
        path = function(run, folder / name)
        if path is not None:
            made.append((name, caption))
    provenance_note = _provenance_figure(run, folder)
    if provenance_note is None:
        made.insert(0, ('provenance.png', PROVENANCE_CAPTION))
    lines = [f'# Active-learning run {run.label} (PK {run.pk})', '', '```text', status_table(run), '```', '']
    if run.validation:
        lines += ['## Validation of the final potential', '']
        ev = run.validation.get('ev', {})
        for who in ('ace', 'dft'):
            if 'fit_failed' in ev.get(who, {}):
                lines.append(f'- E–V ({who.upper()}): {ev[who]["fit_failed"]}')
        if 'bulk_modulus' in ev.get('ace', {}):
            lines.append(f'- E–V (ACE): V0 {ev["ace"]["v0"]:.3f} Å³/atom, B {ev["ace"]["bulk_modulus"]:.1f} GPa')
        if 'bulk_modulus' in ev.get('dft', {}) and 'lattice_ratio' in ev:
            lines.append(
                f'- E–V (DFT): V0 {ev["dft"]["v0"]:.3f} Å³/atom, B {ev["dft"]["bulk_modulus"]:.1f} GPa; '
                f'lattice constant ratio ACE/DFT {ev["lattice_ratio"]:.4f}'
            )
        ph = run.validation.get('phonons')
        if ph:
            lines.append(
                f'- phonons: lowest frequency {ph["lowest_thz"]:.2f} THz; imaginary modes at '
                f'{", ".join(ph["imaginary_at"]) or "none"}'
                + (
                    f'; MAE against DFT {ph["mae_thz"]:.2f} THz (max {ph["max_abs_thz"]:.2f})'
                    if 'mae_thz' in ph
                    else ''
                )
            )
        if run.validation.get('verdicts'):
            from aiida_mlip_autopipe.validation.core import verdict_line

            lines.append(f'- {verdict_line(run.validation["verdicts"])}')
        md = run.validation.get('md')
        if md:
            verdict = 'stable' if md['stable'] else f'unstable: {md.get("reason")}'
            lines.append(
                f'- stability MD at {md["temperature"]} K, {md["steps_run"]} steps: '
                f'{verdict} (max gamma {_fmt(md.get("max_gamma"), ".2f")})'
            )
        # issue 16: surface energies of slabs and the geometry of the molecule.
        from aiida_mlip_autopipe.validation.systems import validation_lines

        lines += [f'- {line}' for line in validation_lines(run.validation)]
        lines.append('')
    if run.calibrations:
        lines += [
            '## Gamma calibration',
            '',
            '| generation | atoms | Spearman(γ, ΔF) | error target (eV/Å) | γ threshold measured | γ_lower used next |',
            '| --- | --- | --- | --- | --- | --- |',
        ]
        for g, c in sorted(run.calibrations.items()):
            lines.append(
                f'| {g} | {c.get("n_atoms")} | {_fmt(c.get("spearman"), ".2f")} | {c.get("error_target")} | '
                f'{_fmt(c.get("measured_threshold"), ".2f")} | {_fmt(c.get("gamma_lower_after"), ".2f")} |'
            )
        lines.append('')
    lines += phase_time_lines(run, report_seconds=time.perf_counter() - started)
    if made:
        lines += ['## Figures', '']
        for name, caption in made:
            lines += [f'![{caption}]({name})', '', f'*{caption}*', '']
    if provenance_note is not None:
        lines += [f'The provenance figure was not drawn: {provenance_note}.', '']
    lines += [
        '## Look further',
        '',
        '```console',
        f'verdi process report {run.pk}',
        f'verdi process show {run.pk}',
        '# every node of the run (thousands for a real run: minutes to lay out, a large file)',
        f'verdi node graph generate {run.pk} -f svg -O provenance-full.svg --process-out --process-in',
        f'verdi archive create run-{run.pk}.aiida -N {run.pk}',
        '```',
    ]
    path = folder / 'report.md'
    path.write_text('\n'.join(lines) + '\n')
    return path


PROVENANCE_CAPTION = (
    'Provenance: every step the run called, with its PK, grouped by generation; an arrow is an output of '
    'one step used as an input of the next (dashed: from an earlier generation). Source: provenance.dot.'
)


def _provenance_figure(run: RunData, folder: Path) -> str | None:
    """Draw ``provenance.png`` (and its ``provenance.dot``); ``None`` when drawn, else why not."""
    import subprocess

    from aiida import orm

    from aiida_mlip_autopipe.report.provenance import write_provenance_png

    try:
        write_provenance_png(orm.load_node(run.pk), folder / 'provenance.png')
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None


#: The phases of a generation in the order they run, and how each runs: ``job`` (CalcJobs on a computer,
#: never in the daemon worker) or ``cf`` (a calcfunction: light bookkeeping in the worker).
_PHASE_KINDS = {
    'generation': 'cf',
    'screening': 'job',
    'pool_scoring': 'job',
    'selection': 'job',
    'dft': 'job',
    'merge': 'cf',
    'training': 'job',
    'evaluation': 'job',
    'calibration': 'job',
    'md_setup': 'cf',
    'md': 'job',
    'extraction': 'job',
}
#: Shown only when some generation ran them; the other phases always (a dash where a generation skipped one).
_OPTIONAL_PHASES = frozenset({'pool_scoring', 'evaluation', 'calibration'})


# issue 9 (end-to-end timings): totals, the run's wall time, validation and the report itself.
def _run_times(pk: int) -> dict[str, float | None]:
    """Wall time of the run (so far, if running) and of its validation phase, from node times (s)."""
    from datetime import datetime, timezone

    from aiida import orm

    node = orm.load_node(pk)
    end = node.mtime if node.is_terminated else datetime.now(timezone.utc)
    times: dict[str, float | None] = {'wall': (end - node.ctime).total_seconds(), 'validation': None}
    children = [
        link.node
        for link in node.base.links.get_outgoing().all()
        if link.link_label
        in ('validation_structures', 'label_validation', 'md_start_validation', 'md_validation', 'analyse_validation')
    ]
    if children:
        times['validation'] = (max(c.mtime for c in children) - min(c.ctime for c in children)).total_seconds()
    return times


def phase_time_lines(run: RunData, report_seconds: float | None = None) -> list[str]:
    """Markdown table of the phase times per generation with a total column and row, then the run totals.

    ``dft`` is the wall time of the generation's LabellingWorkChain, ``training`` of its fit(s);
    ``md`` sums the MD runs, which run concurrently, so the phases can add up to more than the wall time.
    """
    seen = {p for h in run.history for p in h.get('timings', {})}
    phases = [p for p in _PHASE_KINDS if p not in _OPTIONAL_PHASES or p in seen]
    lines = [
        '## Phase times (s) per generation',
        '',
        '| gen | ' + ' | '.join(f'{p} [{_PHASE_KINDS[p]}]' for p in phases) + ' | total |',
        '|' + ' --- |' * (len(phases) + 2),
    ]
    sums = dict.fromkeys(phases, 0.0)
    for h in run.history:
        t = h.get('timings', {})
        for p in phases:
            sums[p] += t.get(p) or 0.0
        total = sum(t.get(p) or 0.0 for p in phases)
        lines.append(
            f'| {h["generation"]} | ' + ' | '.join(_fmt(t.get(p), '.1f') for p in phases) + f' | {total:.1f} |'
        )
    if run.history:
        lines.append('| all | ' + ' | '.join(f'{sums[p]:.1f}' for p in phases) + f' | {sum(sums.values()):.1f} |')
    lines.append('')
    lines.append(
        '[job]: CalcJobs on a computer (pw.x, pacemaker, LAMMPS, and the screening, selection, scoring, '
        'evaluation, calibration and extraction jobs of `mlip-python`), never in the daemon worker; '
        '[cf]: calcfunctions, light bookkeeping in the worker.'
    )
    lines.append('')
    try:
        times = _run_times(run.pk)
    except Exception:  # a report must not fail on a missing node
        times = {'wall': None, 'validation': None}
    parts = []
    if times['wall'] is not None:
        parts.append(f'run wall time {times["wall"]:.1f} s' + ('' if run.finished else ' so far'))
    if times['validation'] is not None:
        parts.append(f'validation {times["validation"]:.1f} s')
    if report_seconds is not None:
        parts.append(f'this report (figures and tables) {report_seconds:.1f} s')
    if parts:
        lines += ['Totals: ' + '; '.join(parts) + '.', '']
    return lines
