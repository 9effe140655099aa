"""Figures of a run (matplotlib, PNG). Every figure names the PKs of the nodes it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiida_mlip_autopipe.report.collect import RunData

__all__ = (
    'plot_calibration',
    'plot_dft_cost',
    'plot_ev',
    'plot_gamma',
    'plot_learning_curve',
    'plot_parity',
    'plot_phonons',
)


def _figure(ncols: int = 1, width: float = 5.0):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
    return fig, axes[0]


def _save(fig, path: Path, sources: str) -> Path:
    fig.text(0.01, 0.005, sources, fontsize=6, color='0.35', ha='left', va='bottom', wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_learning_curve(run: RunData, path: Path) -> Path | None:
    """Force and energy RMSE (train and test) against the number of DFT labels."""
    rows = [h for h in run.history if h.get('train_force_rmse') is not None]
    if not rows:
        return None
    fig, (ax_f, ax_e) = _figure(2)
    labels = [h['labels_total'] for h in rows]
    for key, style, name in (('train_force_rmse', 'o-', 'train'), ('test_force_rmse', 's--', 'test')):
        values = [h.get(key) for h in rows]
        if any(v is not None for v in values):
            ax_f.plot(labels, [np.nan if v is None else v for v in values], style, label=name)
    for key, style, name in (('train_energy_rmse', 'o-', 'train'), ('test_energy_rmse', 's--', 'test')):
        values = [h.get(key) for h in rows]
        if any(v is not None for v in values):
            ax_e.plot(labels, [np.nan if v is None else v for v in values], style, label=name)
    unseen = [(h['labels_total'], h['prediction_force_rmse']) for h in run.history if h.get('prediction_force_rmse')]
    if unseen:
        ax_f.plot(*zip(*unseen), 'v:', color='tab:red', label='previous fit on new labels')
    # Every generation's potential on the same, final set of labels: the one curve whose
    # points are comparable (pacemaker's train/test sets change every generation).
    common = _rmse_on_final_set(run, [h['generation'] for h in rows])
    if common:
        xs = [labels[i] for i, h in enumerate(rows) if h['generation'] in common]
        ax_f.plot(
            xs,
            [common[h['generation']][1] for h in rows if h['generation'] in common],
            'd-',
            color='k',
            label=f'all {run.training_set.num_frames} final labels',
        )
        ax_e.plot(
            xs,
            [common[h['generation']][0] for h in rows if h['generation'] in common],
            'd-',
            color='k',
            label=f'all {run.training_set.num_frames} final labels',
        )
    for h, x in zip(rows, labels):
        ax_f.annotate(
            f'g{h["generation"]}', (x, h['train_force_rmse']), fontsize=7, xytext=(3, 3), textcoords='offset points'
        )
    ax_f.set(xlabel='DFT labels', ylabel='force RMSE (meV/Å)', title='Learning curve: forces')
    ax_e.set(xlabel='DFT labels', ylabel='energy RMSE (meV/atom)', title='Learning curve: energies')
    for ax in (ax_f, ax_e):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fits = ', '.join(f'g{g}: {n.process_label}<{n.pk}>' for g, n in sorted(run.fits.items()))
    return _save(fig, path, f'ActiveLearningWorkChain<{run.pk}>; {fits}')


def _rmse_on_final_set(run: RunData, generations: list[int]) -> dict[int, tuple[float, float]]:
    """(energy meV/atom, force meV/Å) RMSE of each generation's potential on the final training set."""
    if run.training_set is None:
        return {}
    frames = run.training_set.get_frames()
    out = {}
    for generation in generations:
        fit = run.fits.get(generation)
        if fit is None or 'potential' not in fit.outputs:
            continue
        de, df = fit.outputs.potential.prediction_errors(frames)
        out[generation] = (
            1000 * float(np.sqrt(np.mean(np.square(de)))),
            1000 * float(np.sqrt(np.mean(np.square(np.concatenate(df))))),
        )
    return out


def plot_parity(run: RunData, path: Path) -> Path | None:
    """ACE against DFT on the final training set: energy per atom and force components."""
    if run.potential is None or run.training_set is None:
        return None
    calc = run.potential.get_calculator(active_set=False)
    e_dft, e_ace, f_dft, f_ace = [], [], [], []
    for atoms in run.training_set.get_frames():
        e_dft.append(atoms.get_potential_energy() / len(atoms))
        f_dft.append(atoms.get_forces().ravel())
        probe = atoms.copy()
        probe.calc = calc
        e_ace.append(probe.get_potential_energy() / len(atoms))
        f_ace.append(probe.get_forces().ravel())
    e_dft, e_ace = np.asarray(e_dft), np.asarray(e_ace)
    f_dft, f_ace = np.concatenate(f_dft), np.concatenate(f_ace)
    fig, (ax_e, ax_f) = _figure(2, width=4.2)
    for ax, x, y, unit, scale, name in (
        (ax_e, e_dft, e_ace, 'eV/atom', 1000, 'meV/atom'),
        (ax_f, f_dft, f_ace, 'eV/Å', 1000, 'meV/Å'),
    ):
        ax.scatter(x, y, s=6, alpha=0.6)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], 'k-', lw=0.8)
        rmse = float(np.sqrt(np.mean((x - y) ** 2)) * scale)
        ax.set(xlabel=f'DFT ({unit})', ylabel=f'ACE ({unit})', title=f'RMSE {rmse:.1f} {name}')
        ax.grid(alpha=0.3)
    return _save(
        fig,
        path,
        f'potential {type(run.potential).__name__}<{run.potential.pk}> on TrainingSetData<{run.training_set.pk}>',
    )


def _gamma_values(node: Any) -> np.ndarray | None:
    """Per-step max gamma of one MD run (the ``thermo`` output's ``max_gamma`` series)."""
    links = sorted(node.base.links.get_outgoing().all(), key=lambda link: link.link_label != 'thermo')
    for link in links:
        data = link.node
        if hasattr(data, 'get_arraynames'):
            for name in data.get_arraynames():
                if 'max_gamma' in name or name == 'gamma':
                    values = np.asarray(data.get_array(name), dtype=float).ravel()
                    if values.size:
                        return values
    return None


def plot_gamma(run: RunData, path: Path) -> Path | None:
    """Histogram of the per-step max extrapolation grade of every MD run, per generation."""
    series = {}
    for generation, nodes in sorted(run.md_runs.items()):
        values = [v for v in (_gamma_values(n) for n in nodes) if v is not None]
        if values:
            series[generation] = np.concatenate(values)
    if not series:
        return None
    fig, (ax,) = _figure(1, width=6)
    top = max(float(v.max()) for v in series.values())
    bins = np.geomspace(
        max(1e-2, min(float(v[v > 0].min()) if (v > 0).any() else 1e-2 for v in series.values())), max(top, 1.1), 40
    )
    for generation, values in series.items():
        ax.hist(np.clip(values, bins[0], None), bins=bins, histtype='step', lw=1.5, label=f'generation {generation}')
    gammas = [h.get('gamma_lower') for h in run.history if h.get('gamma_lower') is not None]
    if gammas:
        ax.axvline(gammas[-1], color='k', ls='--', lw=1, label='gamma_lower')
    upper = run.config.get('exploration', {}).get('gamma_upper')
    if upper:
        ax.axvline(upper, color='r', ls=':', lw=1, label='gamma_upper (halt)')
    ax.set(xscale='log', xlabel='max extrapolation grade per step', ylabel='MD steps', title='Exploration uncertainty')
    ax.legend(fontsize=8)
    pks = ', '.join(f'g{g}: ' + ' '.join(str(n.pk) for n in nodes) for g, nodes in sorted(run.md_runs.items()))
    return _save(fig, path, f'ActiveLearningWorkChain<{run.pk}>; MD run PKs {pks}')


def plot_dft_cost(run: RunData, path: Path) -> Path | None:
    """pw.x wall time and number of pw.x runs per generation."""
    generations = sorted(run.labellings)
    if not generations:
        return None
    seconds = [run.dft_seconds(g) for g in generations]
    counts = [run.dft_count(g) for g in generations]
    fig, (ax,) = _figure(1, width=5.5)
    ax.bar(generations, seconds, color='tab:blue', alpha=0.8)
    for g, s, c in zip(generations, seconds, counts):
        ax.annotate(f'{c} pw.x', (g, s), ha='center', va='bottom', fontsize=8)
    ax.set(xlabel='generation', ylabel='pw.x wall time (s)', title='DFT cost per generation', xticks=generations)
    pks = ', '.join(f'g{g}: LabellingWorkChain<{run.labellings[g].pk}>' for g in generations)
    return _save(fig, path, f'ActiveLearningWorkChain<{run.pk}>; {pks}')


def plot_ev(run: RunData, path: Path) -> Path | None:
    """Energy–volume curves of ACE and DFT (each relative to its minimum)."""
    curves = run.validation_curves
    if curves is None or 'ev_volumes' not in curves.get_arraynames():
        return None
    fig, (ax,) = _figure(1, width=5.5)
    v, e = curves.get_array('ev_volumes'), curves.get_array('ev_ace')
    ax.plot(v, 1000 * (e - e.min()), 'o-', label='ACE')
    if 'ev_dft' in curves.get_arraynames():
        vd, ed = curves.get_array('ev_dft_volumes'), curves.get_array('ev_dft')
        ax.plot(vd, 1000 * (ed - ed.min()), 's--', label='DFT (pw.x)')
    ev = (run.validation or {}).get('ev', {})
    title = 'Energy–volume'
    if 'bulk_modulus' in ev.get('dft', {}) and 'bulk_modulus' in ev.get('ace', {}):
        title += f': B ACE {ev["ace"]["bulk_modulus"]:.0f} / DFT {ev["dft"]["bulk_modulus"]:.0f} GPa'
    ax.set(xlabel='volume (Å³/atom)', ylabel='E − E_min (meV/atom)', title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path, f'ArrayData<{curves.pk}>, validation Dict<{(run.validation or {}).get("pk")}>')


def plot_phonons(run: RunData, path: Path) -> Path | None:
    """Phonon frequencies at the validation q-points, ACE against DFT."""
    curves = run.validation_curves
    if curves is None or 'phonon_ace' not in curves.get_arraynames():
        return None
    q_points = (run.validation or {}).get('q_points', [])
    ace = curves.get_array('phonon_ace')
    fig, (ax,) = _figure(1, width=5.5)
    x = np.arange(len(q_points))
    for i in range(ace.shape[1]):
        ax.plot(x, ace[:, i], 'o', color='tab:blue', label='ACE' if i == 0 else None)
    if 'phonon_dft' in curves.get_arraynames():
        dft = curves.get_array('phonon_dft')
        for i in range(dft.shape[1]):
            ax.plot(x + 0.1, dft[:, i], 's', mfc='none', color='tab:red', label='DFT (pw.x)' if i == 0 else None)
    ax.axhline(0, color='k', lw=0.6)
    ax.set(xticks=x, xticklabels=q_points, ylabel='frequency (THz)', title='Phonons at high-symmetry points')
    ax.legend(fontsize=8)
    return _save(fig, path, f'ArrayData<{curves.pk}>')


def plot_calibration(run: RunData, path: Path) -> Path | None:
    """Mean per-atom force error of the previous potential per gamma bin, per generation."""
    if not run.calibrations:
        return None
    fig, (ax,) = _figure(1, width=6)
    for generation, data in sorted(run.calibrations.items()):
        bins = data.get('bins') or []
        if not bins:
            continue
        centres = [np.sqrt(b['gamma_low'] * b['gamma_high']) for b in bins]
        rho = data.get('spearman')
        label = f'generation {generation}' + (f' (Spearman {rho:.2f})' if rho is not None else '')
        ax.plot(centres, [b['mean_error'] for b in bins], 'o-', label=label)
        if data.get('error_target'):
            ax.axhline(data['error_target'], color='k', ls=':', lw=0.8)
    ax.set(
        xscale='log',
        xlabel='extrapolation grade gamma',
        ylabel='mean |F_ACE − F_DFT| (eV/Å)',
        title='Gamma calibration against DFT',
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    pks = ', '.join(f'g{g}: Dict<{d["pk"]}>' for g, d in sorted(run.calibrations.items()))
    return _save(fig, path, f'ActiveLearningWorkChain<{run.pk}>; calibration {pks}')
