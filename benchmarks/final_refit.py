"""How large a basis and which loss weights the final refit needs, judged on the run's own validation.

Issue 13, item 4 ("fits that converge"): every choice of the final refit is judged by the
potential it gives. Takes a finished ``ActiveLearningWorkChain`` (by default the newest in the
loaded profile) and refits its final training set from scratch with each basis size
(``--functions``), force share of the loss (``--kappa``, pacemaker's kappa) and fit seed
(``--seeds``), with the run's own final-fit settings otherwise (iterations, cutoff, weights).
Each potential is then measured the way the run measured its own:

- against the run's pw.x validation labels, with the same ``analyse_validation`` calcfunction
  (lattice constant, bulk modulus, E–V RMSE over the run's strains, phonon MAE);
- on the run's held-out set (never trained on): energy RMSE (meV/atom), force RMSE (meV/Å).

Fits run one at a time as real ``PacemakerCalculation`` jobs of the run's pacemaker code, in
process (no daemon needed); the nodes stay in the profile in the group
``benchmarks/final_refit``. Prints one row per fit and the median per setting; writes
``benchmarks/output/final_refit.json``. The run's own refit is printed first, as the baseline
of the same invocation.

    python benchmarks/final_refit.py                          # newest run, 16/32/48 x kappa 0.3/0.1 x 2 seeds
    python benchmarks/final_refit.py --run 4027 --functions 24 32 --kappa 0.1 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / 'benchmarks' / 'output'
GROUP = 'benchmarks/final_refit'


def newest_run() -> int:
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.WorkflowNode,
        filters={'attributes.process_label': 'ActiveLearningWorkChain', 'attributes.exit_status': 0},
        project='id',
    )
    pks = [pk for (pk,) in query.all()]
    if not pks:
        raise SystemExit('no finished ActiveLearningWorkChain in this profile: give --run PK')
    return max(pks)


def run_inputs(pk: int) -> dict[str, Any]:
    """What the run's final refit and validation used: its fit job, the validation cells and labels, the holdout."""
    from aiida import orm

    run = orm.load_node(pk)
    final = run.outputs.history.get_dict().get('final_fit') or {}
    fits = {key: value for key, value in (final.get('fits') or {}).items() if 'pk' in value}
    if not fits:
        raise SystemExit(f'{run.process_label}<{pk}> has no final refit to compare with')
    base = orm.load_node(fits[sorted(fits)[0]]['pk'])
    job = max((c for c in base.called if c.process_label == 'PacemakerCalculation'), key=lambda c: c.pk)
    analyses = [n for n in run.called_descendants if n.process_label == 'analyse_validation']
    if not analyses:
        raise SystemExit(f'{run.process_label}<{pk}> ran no validation')
    analysis = max(analyses, key=lambda n: n.pk)
    evaluation = orm.load_node(final['evaluation_pk'])
    return {
        'run': run,
        'final': final,
        'job': job,
        'cells': analysis.inputs.cells,
        'dft_labels': analysis.inputs.dft_labels,
        'holdout': evaluation.inputs.labels,
        'validation': analysis.outputs.validation.get_dict(),
    }


def holdout_errors(potential, holdout) -> dict[str, float]:
    """Energy RMSE per atom and force RMSE per component on the held-out frames, as the run's evaluation has them."""
    from aiida_mlip_autopipe.uncertainty.task import errors

    # The calculator's energies already include the reference energies: no offset on top.
    measured = errors(potential.get_calculator(active_set=False), holdout.get_frames(), {})
    return {
        'energy_rmse_mev': measured['energy_rmse'],
        'force_rmse_mev': measured['force_rmse'],
        'holdout_frames': measured['n_frames'],
    }


def validation_numbers(validation: dict[str, Any]) -> dict[str, Any]:
    """The numbers the run's report judges: lattice, bulk modulus, E–V RMSE, phonon MAE (against pw.x)."""
    ev = validation.get('ev', {})
    dft = ev.get('dft', {})
    ratio = ev.get('lattice_ratio')
    bulk_error = ev.get('bulk_modulus_error')
    return {
        'lattice_pct': None if ratio is None else round(100 * (ratio - 1), 3),
        'bulk_modulus_gpa': ev.get('ace', {}).get('bulk_modulus'),
        'bulk_modulus_pct': None
        if bulk_error is None or not dft.get('bulk_modulus')
        else round(100 * bulk_error / dft['bulk_modulus'], 1),
        'ev_rmse_mev': ev.get('rmse_relative_mev'),
        'phonon_mae_thz': validation.get('phonons', {}).get('mae_thz'),
    }


def refit(inputs: dict[str, Any], functions: int, kappa: float, seed: int, training_set: Any = None) -> dict[str, Any]:
    """One from-scratch fit with the run's settings but ``functions``, ``kappa`` and ``seed``; measured.

    ``training_set``: other labels than the run's (a baseline's), fitted and measured the same way.
    """
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
    from aiida_mlip_autopipe.validation.functions import analyse_validation

    job = inputs['job']
    settings = dict(job.inputs.settings.get_dict())
    settings.update(
        {
            'functions_per_element': functions,
            'energy_weight': 1.0 - kappa,
            'force_weight': kappa,
            'seed': 20261203 + seed,
            'warm_start': False,
        }
    )
    start = time.monotonic()
    _, node = run_get_node(
        PacemakerCalculation,
        code=job.inputs.code,
        training_set=job.inputs.training_set if training_set is None else training_set,
        settings=orm.Dict(settings),
        metadata={'options': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}},
    )
    seconds = time.monotonic() - start
    group, _ = orm.Group.collection.get_or_create(GROUP)
    group.add_nodes(node)
    row: dict[str, Any] = {
        'functions': functions,
        'kappa': kappa,
        'seed': seed,
        'pk': node.pk,
        'exit_status': node.exit_status,
        'seconds': round(seconds, 1),
    }
    if not node.is_finished_ok:
        return row
    potential = node.outputs.potential
    validation = analyse_validation(potential, inputs['cells'], inputs['dft_labels'])['validation'].get_dict()
    row.update(validation_numbers(validation))
    row.update(holdout_errors(potential, inputs['holdout']))
    return row


def _format(row: dict[str, Any]) -> str:
    def cell(key: str, fmt: str) -> str:
        value = row.get(key)
        return '-' if value is None else format(value, fmt)

    return (
        f'{row["label"]:<22} a0 {cell("lattice_pct", "+.2f")} %  B0 {cell("bulk_modulus_pct", "+.1f")} %  '
        f'E-V {cell("ev_rmse_mev", ".2f")} meV/atom  ph {cell("phonon_mae_thz", ".2f")} THz  '
        f'held-out E {cell("energy_rmse_mev", ".1f")} meV/atom F {cell("force_rmse_mev", ".0f")} meV/Å'
    )


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median and range per (functions, kappa) over the seeds that fitted."""
    keys = ['lattice_pct', 'bulk_modulus_pct', 'ev_rmse_mev', 'phonon_mae_thz', 'energy_rmse_mev', 'force_rmse_mev']
    out = []
    for setting in sorted({(r['functions'], r['kappa']) for r in rows}):
        fitted = [r for r in rows if (r['functions'], r['kappa']) == setting and r.get('exit_status') == 0]
        entry: dict[str, Any] = {'functions': setting[0], 'kappa': setting[1], 'fits': len(fitted)}
        for key in keys:
            values = [r[key] for r in fitted if r.get(key) is not None]
            if values:
                entry[key] = statistics.median(values)
                entry[f'{key}_range'] = [min(values), max(values)]
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', type=int, default=None, help='PK of a finished ActiveLearningWorkChain')
    parser.add_argument('--functions', type=int, nargs='+', default=[16, 32, 48])
    parser.add_argument('--kappa', type=float, nargs='+', default=[0.3, 0.1])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--output', type=Path, default=OUTPUT / 'final_refit.json')
    args = parser.parse_args()

    from aiida import load_profile

    load_profile()
    pk = args.run or newest_run()
    inputs = run_inputs(pk)
    settings = inputs['job'].inputs.settings.get_dict()
    frames = inputs['job'].inputs.training_set.num_frames
    print(
        f'{inputs["run"].process_label}<{pk}>: {frames} training labels, {inputs["holdout"].num_frames} held out; '
        f'refits of {settings["maxiter"]} iterations (the run: {settings["functions_per_element"]} functions, '
        f'kappa {settings["force_weight"] / (settings["energy_weight"] + settings["force_weight"]):.2f}, '
        f'chose {inputs["final"].get("chosen")})'
    )
    # The run's own potential, measured here as the refits are (its EvaluationCalculation's numbers beside).
    baseline = {'label': 'the run as reported', **validation_numbers(inputs['validation'])}
    baseline.update(holdout_errors(inputs['run'].outputs.potential, inputs['holdout']))
    chosen = (inputs['final'].get('errors') or {}).get(inputs['final'].get('chosen'), {})
    baseline['evaluation'] = {'energy_rmse_mev': chosen.get('energy_rmse'), 'force_rmse_mev': chosen.get('force_rmse')}
    print(_format(baseline))
    rows = []
    for functions in args.functions:
        for kappa in args.kappa:
            for seed in args.seeds:
                row = refit(inputs, functions, kappa, seed)
                row['label'] = f'{functions} fn, kappa {kappa:g}, s{seed}'
                rows.append(row)
                print(_format(row) + f'  ({row["seconds"]:.0f} s, PK {row["pk"]}, exit {row["exit_status"]})')
    summary = summarise(rows)
    print('\nmedian over seeds:')
    for entry in summary:
        print(_format({**entry, 'label': f'{entry["functions"]} fn, kappa {entry["kappa"]:g} ({entry["fits"]})'}))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        'date': datetime.now().isoformat(timespec='seconds'),
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version()},
        'run': pk,
        'training_labels': frames,
        'holdout_frames': inputs['holdout'].num_frames,
        'maxiter': settings['maxiter'],
        'baseline': baseline,
        'fits': rows,
        'summary': summary,
    }
    args.output.write_text(json.dumps(record, indent=1), encoding='utf-8')
    print(f'\nwrote {args.output}')


if __name__ == '__main__':
    main()
