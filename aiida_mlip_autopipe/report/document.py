"""The run report: a status table for the terminal and a Markdown document with figures."""

from __future__ import annotations

from pathlib import Path

from aiida_mlip_autopipe.report import plots
from aiida_mlip_autopipe.report.collect import RunData

__all__ = ('status_table', 'write_report')


def _fmt(value, spec: str = '.1f', missing: str = '-') -> str:
    return missing if value is None else format(value, spec)


def status_table(run: RunData) -> str:
    """One line per generation: phase, labels, RMSE, gamma; then the closest stop rule."""
    from aiida_mlip_autopipe.workflows.stop_rules import closest_rule

    lines = [
        f'ActiveLearningWorkChain<{run.pk}> {run.label}: {run.state}'
        + (f' [{run.exit_status}]' if run.exit_status is not None else '')
        + (f', phase {run.phase}' if run.phase and not run.finished else ''),
        f'{"gen":>3} {"cand":>5} {"sel":>4} {"labels ok/fail":>14} {"total":>6} {"F RMSE":>8} {"test F":>8} '
        f'{"MD":>3} {"halt":>4} {"max γ":>7} {"uncert.":>8}  time (s)',
    ]
    for h in run.history:
        ok = h.get('labels_tried', 0) - h.get('labels_failed', 0)
        labels = f'{ok}/{h.get("labels_failed", 0)}'
        timings = h.get('timings', {})
        lines.append(
            f'{h["generation"]:>3} {h.get("candidates", 0):>5} {h.get("selected", 0):>4} '
            f'{labels:>14} {h.get("labels_total", 0):>6} '
            f'{_fmt(h.get("train_force_rmse")):>8} {_fmt(h.get("test_force_rmse")):>8} '
            f'{h.get("md_runs", 0):>3} {h.get("md_halted", 0):>4} {_fmt(h.get("max_gamma"), ".2f"):>7} '
            f'{_fmt(h.get("uncertain_fraction"), ".1%"):>8}  {sum(timings.values()):.0f}'
        )
    if run.stop:
        lines.append(f'stopped by {run.stop.get("rule")}: {run.stop.get("message")}')
    elif run.history and run.config.get('loop'):
        rule, progress = closest_rule(run.history, run.config['loop'])
        lines.append(f'closest stop rule: {rule} ({progress:.0%} of the way)')
    if run.exit_message:
        lines.append(f'exit message: {run.exit_message}')
    return '\n'.join(lines)


def write_report(run: RunData, folder: str | Path) -> Path:
    """Write ``report.md`` and its PNG figures into ``folder``; return the Markdown path."""
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
    lines = [f'# Active-learning run {run.label} (PK {run.pk})', '', '```text', status_table(run), '```', '']
    if run.validation:
        lines += ['## Validation of the final potential', '']
        ev = run.validation.get('ev', {})
        if 'ace' in ev:
            lines.append(f'- E–V (ACE): V0 {ev["ace"]["v0"]:.3f} Å³/atom, B {ev["ace"]["bulk_modulus"]:.1f} GPa')
        if 'dft' in ev:
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
        md = run.validation.get('md')
        if md:
            lines.append(
                f'- stability MD at {md["temperature"]} K, {md["steps_run"]} steps: '
                f'{"stable" if md["stable"] else "unstable"} (max gamma {_fmt(md.get("max_gamma"), ".2f")})'
            )
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
    lines += [
        '## Phase times (s) per generation',
        '',
        '| generation | ' + ' | '.join(_PHASES) + ' |',
        '|' + ' --- |' * (len(_PHASES) + 1),
    ]
    for h in run.history:
        t = h.get('timings', {})
        lines.append(f'| {h["generation"]} | ' + ' | '.join(_fmt(t.get(p), '.1f') for p in _PHASES) + ' |')
    lines.append('')
    if made:
        lines += ['## Figures', '']
        for name, caption in made:
            lines += [f'![{caption}]({name})', '', f'*{caption}*', '']
    lines += [
        '## Look further',
        '',
        '```console',
        f'verdi process report {run.pk}',
        f'verdi process show {run.pk}',
        f'verdi node graph generate {run.pk}',
        f'verdi archive create run-{run.pk}.aiida -N {run.pk}',
        '```',
    ]
    path = folder / 'report.md'
    path.write_text('\n'.join(lines) + '\n')
    return path


_PHASES = ('generation', 'screening', 'selection', 'dft', 'merge', 'training', 'md_setup', 'md', 'extraction')
