"""The Si demo's labels against baseline (a) on real pw.x: random generation-0 cells, same count, same fits.

Issue 13, item 6: "real pw.x Si at the demo's budget: the loop against baseline (a) with identical
fit settings". Takes a finished ``ActiveLearningWorkChain`` (the demo, by default the newest in the
profile) and, per ``--seeds`` value, draws as many cells at random from its generation-0 candidates
(the strained, rattled and defective cells a user without active learning would label; the run's
held-out cells excluded) as the run trained its final potential on. Cells the run labelled already
keep their pw.x labels; the others are labelled with pw.x by a ``LabellingWorkChain`` with the
run's own DFT inputs (same code, pseudopotentials, cutoffs, k-point density). Both label sets are
then refitted from scratch with the run's final-fit settings and each ``--fit-seeds`` value, and
every potential is measured as the run measured its own (``final_refit.refit``): lattice constant,
bulk modulus, E–V RMSE and phonon MAE against the run's pw.x validation, and energy and force RMSE
on the run's held-out pw.x labels (generation-0 cells and MD cut-outs at the demo's temperatures).

    python benchmarks/si_random_baseline.py                       # newest run, 3 random draws x 2 fit seeds
    python benchmarks/si_random_baseline.py --run 49 --seeds 0 1 --fit-seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from final_refit import _format, newest_run, refit, run_inputs

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / 'benchmarks' / 'output'
GROUP = 'benchmarks/si_random_baseline'
KEYS = ('lattice_pct', 'bulk_modulus_pct', 'ev_rmse_mev', 'phonon_mae_thz', 'energy_rmse_mev', 'force_rmse_mev')


def generation_zero(run) -> dict[str, Any]:
    """The run's generation-0 candidates (inputs of its ``screen_gen00`` call), by UUID."""
    from aiida import orm
    from aiida.common.links import LinkType

    pool = {}
    for link in run.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all():
        if link.link_label == 'screen_gen00':
            for inlink in link.node.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all():
                if isinstance(inlink.node, orm.StructureData):
                    pool[inlink.node.uuid] = inlink.node
    if not pool:
        raise SystemExit(f'{run.process_label}<{run.pk}> has no screen_gen00 call: no generation-0 pool')
    return pool


def label_with_pw(run, structures: dict[str, Any], tag: str) -> Any:
    """pw.x labels of ``structures`` with the run's own labelling inputs (those of its generation 0)."""
    from aiida import orm
    from aiida.common.links import LinkType
    from aiida.engine import run_get_node

    first = [
        link.node
        for link in run.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
        if link.link_label == 'label_gen00'
    ]
    if not first:
        raise SystemExit(f'{run.process_label}<{run.pk}> has no label_gen00 call to copy the DFT inputs from')
    builder = first[0].get_builder_restart()
    builder.structures = {f's{i:03d}': node for i, node in enumerate(structures.values())}
    builder.failure_budget = orm.Float(1.0)
    builder.metadata.label = tag
    started = time.monotonic()
    results, node = run_get_node(builder)
    print(f'  {tag}: {len(structures)} cells labelled with pw.x in {time.monotonic() - started:.0f} s ({node.pk})')
    group, _ = orm.Group.collection.get_or_create(GROUP)
    group.add_nodes(node)
    return results['training_set']


def _pick():
    from aiida.engine import calcfunction

    from aiida_mlip_autopipe.data.training_set import TrainingSetData

    @calcfunction
    def pick_frames(labels, **training_sets):
        """The labels of the cells named ``labels``, in that order: baseline (a)'s training set."""
        by_name = {f.info['structure_label']: f for s in training_sets.values() for f in s.get_frames()}
        missing = [name for name in labels.get_list() if name not in by_name]
        if missing:
            raise ValueError(f'{len(missing)} picked cells have no label (pw.x failed on them?): {missing[:3]}')
        return TrainingSetData.from_frames([by_name[name] for name in labels.get_list()])

    return pick_frames


def earlier_labels(run) -> list[Any]:
    """Training sets of earlier invocations' pw.x labelling for this run (group ``GROUP``): never labelled twice."""
    from aiida import orm

    query = orm.QueryBuilder().append(orm.Group, filters={'label': GROUP}, tag='group')
    query.append(orm.WorkflowNode, with_group='group', filters={'label': {'like': f'si baseline (a) of {run.pk} %'}})
    return [node.outputs.training_set for (node,) in query.all() if node.is_finished_ok]


def baseline_set(run, inputs: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    """Baseline (a) for ``seed``: the run's training-label count drawn at random from its generation-0 pool.

    Cells are matched by their label (``gen00/bulk-8/strain-1/...``): the loop labels and holds out
    copies of the candidate nodes, not the nodes themselves. The held-out cells are never drawn.
    """
    from aiida import orm

    loop_set = inputs['job'].inputs.training_set
    held = {f.info.get('structure_label') for f in inputs['holdout'].get_frames()}
    pool = {node.label: node for node in generation_zero(run).values() if node.label not in held}
    n = loop_set.num_frames
    names = sorted(pool)  # a stable order before the seeded draw
    picks = [names[i] for i in np.random.default_rng(seed).permutation(len(names))[:n]]
    sources = {'loop': loop_set, **{f'earlier{i}': s for i, s in enumerate(earlier_labels(run))}}
    known = {f.info.get('structure_label') for s in sources.values() for f in s.get_frames()}
    shared = sum(name in {f.info.get('structure_label') for f in loop_set.get_frames()} for name in picks)
    missing = {name: pool[name] for name in picks if name not in known}
    if missing:
        sources['pw'] = label_with_pw(run, missing, f'si baseline (a) of {run.pk} seed {seed}')
    training_set = _pick()(orm.List(picks), **sources)
    atoms = [len(f) for f in training_set.get_frames()]
    origins: dict[str, int] = {}
    for name in picks:
        origin = name.split('/')[-1].rsplit('-', 1)[0]  # the last operation: strain, rattle, vacancy, bulk, ...
        origins[origin] = origins.get(origin, 0) + 1
    return training_set, {
        'seed': seed,
        'pool': len(pool),
        'held_out_excluded': len(held & {node.label for node in generation_zero(run).values()}),
        'labels': len(picks),
        'shared_with_loop': shared,
        'new_pw_labels': len(missing),
        'atoms': sum(atoms),
        'atoms3': sum(a**3 for a in atoms),
        'origins': origins,
        'training_set_pk': training_set.pk,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for strategy in sorted({r['strategy'] for r in rows}):
        fitted = [r for r in rows if r['strategy'] == strategy and r.get('exit_status') == 0]
        entry: dict[str, Any] = {'fits': len(fitted)}
        for key in KEYS:
            # Fit seeds averaged within a label set first, then the median over label sets (draws).
            per_set: dict[Any, list[float]] = {}
            for r in fitted:
                if r.get(key) is not None:
                    per_set.setdefault(r['draw'], []).append(r[key])
            values = [statistics.mean(v) for v in per_set.values()]
            if values:
                entry[key] = statistics.median(values)
                entry[f'{key}_range'] = [min(values), max(values)]
        out[strategy] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', type=int, default=None, help='PK of a finished ActiveLearningWorkChain')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='random draws of baseline (a)')
    parser.add_argument('--fit-seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--output', type=Path, default=OUTPUT / 'si_random_baseline.json')
    args = parser.parse_args()

    from aiida import load_profile

    load_profile()
    pk = args.run or newest_run()
    inputs = run_inputs(pk)
    run = inputs['run']
    settings = inputs['job'].inputs.settings.get_dict()
    functions = int(settings['functions_per_element'])
    kappa = settings['force_weight'] / (settings['energy_weight'] + settings['force_weight'])
    n = inputs['job'].inputs.training_set.num_frames
    print(
        f'{run.process_label}<{pk}>: {n} training labels, {inputs["holdout"].num_frames} held out; every fit: '
        f'{functions} functions, kappa {kappa:.2f}, {settings["maxiter"]} iterations, from scratch'
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        'date': datetime.now().isoformat(timespec='seconds'),
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version()},
        'run': pk,
        'training_labels': n,
        'holdout_frames': inputs['holdout'].num_frames,
        'fit': {'functions_per_element': functions, 'kappa': kappa, 'maxiter': settings['maxiter']},
        'draws': [],
        'fits': [],
    }
    loop_atoms = [len(f) for f in inputs['job'].inputs.training_set.get_frames()]
    record['loop_labels'] = {'labels': n, 'atoms': sum(loop_atoms), 'atoms3': sum(a**3 for a in loop_atoms)}

    def measure(strategy: str, draw: Any, training_set: Any) -> None:
        for fit_seed in args.fit_seeds:
            row = refit(inputs, functions, kappa, 100 + fit_seed, training_set=training_set)
            row.update(strategy=strategy, draw=draw, fit_seed=fit_seed)
            row['label'] = f'{strategy} {draw} f{fit_seed}'
            record['fits'].append(row)
            print(_format(row) + f'  ({row["seconds"]:.0f} s, PK {row["pk"]}, exit {row["exit_status"]})', flush=True)
            record['summary'] = summarise(record['fits'])
            args.output.write_text(json.dumps(record, indent=1), encoding='utf-8')

    measure('loop', 'run', None)
    for seed in args.seeds:
        training_set, draw = baseline_set(run, inputs, seed)
        record['draws'].append(draw)
        print(
            f'  baseline (a) seed {seed}: {draw["labels"]} cells from a pool of {draw["pool"]} '
            f'({draw["shared_with_loop"]} also labelled by the loop), {draw["atoms"]} atoms'
        )
        measure('a', seed, training_set)
    print('\nmedian over label sets (fit seeds averaged), range in brackets:')
    for strategy, entry in record['summary'].items():
        print(_format({**entry, 'label': f'{strategy} ({entry["fits"]} fits)'}))
    print(f'\nwrote {args.output}')


if __name__ == '__main__':
    main()
