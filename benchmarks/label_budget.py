"""Error against DFT budget at pre-registered label counts: the loop against three baselines (issue 13, item 6).

What is compared, per system, at each pre-registered budget B (``PREREGISTERED['budgets']``):

- **loop**: the labels of the real ``ActiveLearningWorkChain`` (oracle labels, real pacemaker, real
  LAMMPS driver) at the last generation whose training set holds at most B labels; one loop run per
  loop seed (the config's ``seed`` is shifted, so its pool, selections and MD differ);
- **(a) random, generation-0 pool**: B random picks from that loop's generation-0 candidates, what a
  user without active learning labels (strained, rattled, defective cells and slabs);
- **(b) random, everything offered**: B random picks from every candidate the loop was offered (the
  generation-0 pool and every later generation's MD cut-outs);
- **(c) FPS alone**: farthest point sampling on the config's SOAP over the generation-0 pool, B picks.

Every label set is fitted from scratch with the same settings (``PREREGISTERED['fit']``: 64
functions per element, energy-weighted as the loop's final refit) and each of the fit seeds; a
point is the mean over fit seeds of the RMSE on a held-out test set that none of the strategies
saw (its own seed): EMT Langevin MD of 32- and 108-atom cells from 300 K to 900 K (EMT Al melts
near 1000 K), ±4 and ±8 % volume strain and shear, vacancies, divacancies, interstitials (antisites
for the alloy), and (111) and (100) slabs. Across loop seeds the median and the range are reported.
The labels each strategy needs to reach the pre-registered targets are read off its curve
(log-linear between budgets), per loop seed; the issue's target is a ratio (a) / loop >= 5 and
(b) / loop >= 1 for force and energy. DFT cost is counted as labels, labelled atoms and the sum of
atoms³ per label (what a plane-wave code's cost grows with); the loop also pays its held-out labels,
which are counted beside its budget.

The labels come from ASE's EMT (``benchmark.oracle: emt`` — BENCHMARKS ONLY, not DFT). Nodes go to
the group ``benchmarks/label_budget`` of the default profile; the record is rewritten after every
fit, so an interrupted run keeps what it measured, and a rerun with ``--resume`` skips the points
it holds. A run of fewer budgets or seeds than pre-registered says so in its record and table.

    python benchmarks/label_budget.py --system al                     # everything pre-registered
    python benchmarks/label_budget.py --system al --budgets 8 16 32 64 --loop-seeds 0 1 2
    python benchmarks/label_budget.py --resummarise benchmarks/output/label_budget_al.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_efficiency import _decorate, _emt_lattice_constant, _md_frames, defective, evaluate, labels_to_reach, strained

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'benchmarks' / 'configs'
OUTPUT = ROOT / 'benchmarks' / 'output'
GROUP = 'benchmarks/label_budget'

# Written on 2026-12-04 before this script's first run; a run may do fewer budgets or seeds (and
# says so), never other ones. Targets are absolute RMSEs on the held-out set built below.
PREREGISTERED: dict[str, Any] = {
    'written': '2026-12-04, before the first run',
    'budgets': [8, 16, 32, 64, 128],
    'loop_seeds': [0, 1, 2],
    'fit_seeds': [0, 1],
    'fit': {'functions_per_element': 64, 'maxiter': 300, 'kappa': 0.1},
    'targets': {
        'al': {'force_rmse': 20.0, 'energy_rmse': 2.0},
        'cuau': {'force_rmse': 35.0, 'energy_rmse': 3.0},
    },
    # Added after the smoke run (loop seed 0, 8 labels, one fit: loop 17.1, (a) 17.7 meV/Å) showed the
    # force target met at the smallest budget by both, before the full run: the targets halved.
    'targets_tight': {
        'al': {'force_rmse': 10.0, 'energy_rmse': 1.0},
        'cuau': {'force_rmse': 17.5, 'energy_rmse': 1.5},
    },
    'ratio_targets': {'a': 5.0, 'b': 1.0},
    'test_set_seed': 20261204,
}
SYSTEMS = {
    'al': {'config': 'al_emt_budget.yaml', 'elements': ['Al'], 'title': 'fcc Al (EMT oracle)'},
    'cuau': {'config': 'cuau_emt_budget.yaml', 'elements': ['Cu', 'Au'], 'title': 'Cu–Au 50/50 fcc (EMT oracle)'},
}
STRATEGIES = {
    'loop': 'loop (active learning)',
    'a': '(a) random, generation-0 pool',
    'b': '(b) random, everything offered',
    'c': '(c) FPS on SOAP, generation-0 pool',
}
CATEGORIES = ('md', 'strain', 'defect', 'surface')
KEYS = (('force_rmse', 'meV/Å'), ('energy_rmse', 'meV/atom'))


# ---------------------------------------------------------------------------------------
# Held-out test set


def _slab(miller: str, a0: float, elements: list[str], rng: np.random.Generator):
    from ase.build import fcc100, fcc111

    build = fcc111 if miller == '111' else fcc100
    slab = build('Cu', size=(2, 2, 6), a=a0, vacuum=6.0, periodic=True)
    return _decorate(slab, elements, rng)


def build_test_set(elements: list[str], seed: int) -> list:
    """Held-out frames labelled by EMT, each with ``info['category']``: md, strain, defect, surface."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    cell8 = bulk('Cu', 'fcc', a=1, cubic=True).repeat(2)
    a0 = _emt_lattice_constant(lambda n: list(_decorate(cell8.copy(), elements, rng).symbols))
    unit = bulk('Cu', 'fcc', a=a0, cubic=True)
    frames: list = []

    def add(new, category, detail):
        for frame in new:
            frame.info.update(category=category, detail=detail)
        frames.extend(new)

    for reps in (2, 3):
        for temperature in (300, 600, 900):
            cell = _decorate(unit.repeat(reps), elements, rng)
            add(_md_frames(cell, temperature, rng, 6), 'md', f'{len(cell)} atoms {temperature} K')
    for volume in (-0.08, -0.04, 0.04, 0.08, 0.0, 0.0):
        cell = _decorate(unit.repeat(2), elements, rng)
        strained(cell, (1 + volume) ** (1 / 3), 0.03 if volume == 0.0 else 0.01, rng)
        add(_md_frames(cell, 300, rng, 4), 'strain', f'volume {volume:+.2f}')
    for kind in ('vacancy', 'divacancy', 'interstitial' if len(elements) == 1 else 'antisite'):
        for temperature in (300, 600):
            cell = _decorate(unit.repeat(2), elements, rng)
            defective(cell, kind, elements, a0, rng)
            add(_md_frames(cell, temperature, rng, 4), 'defect', f'{kind} {temperature} K')
    for miller in ('111', '100'):
        for temperature in (300, 600):
            add(
                _md_frames(_slab(miller, a0, elements, rng), temperature, rng, 4),
                'surface',
                f'({miller}) {temperature} K',
            )
    return frames


# ---------------------------------------------------------------------------------------
# AiiDA parts


def _group():
    from aiida import orm

    group, _ = orm.Group.collection.get_or_create(GROUP)
    return group


def loop_config(system: str, loop_seed: int, budget: int) -> Any:
    """The benchmark config with its seed shifted by ``loop_seed``, ``budget`` training labels and its held-out ones."""
    from aiida_mlip_autopipe.config import parse_config

    path = CONFIGS / SYSTEMS[system]['config']
    data = yaml.safe_load(path.read_text(encoding='utf-8'))
    data['seed'] = int(data['seed']) + 1000 * loop_seed
    data['loop']['dft_budget'] = budget + int(data['loop'].get('holdout', 0))
    return parse_config(data, source=str(path))


def run_loop(system: str, loop_seed: int, budget: int) -> Any:
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    builder = ActiveLearningWorkChain.get_builder_from_protocol(loop_config(system, loop_seed, budget))
    builder.metadata.label = f'label-budget {system} loop seed {loop_seed}'
    started = time.time()
    _, node = run_get_node(builder)
    print(
        f'  loop seed {loop_seed}: ActiveLearningWorkChain<{node.pk}> [{node.exit_status}] '
        f'in {time.time() - started:.0f} s'
    )
    _group().add_nodes(node)
    return node


def offered(node) -> tuple[dict[str, Any], dict[str, Any]]:
    """The loop's generation-0 candidates and those of later generations (inputs of its screening calls)."""
    from aiida import orm
    from aiida.common.links import LinkType

    first, later = {}, {}
    for link in sorted(node.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all(), key=lambda x: x.node.pk):
        if not link.link_label.startswith('screen_gen'):
            continue
        target = first if int(link.link_label[len('screen_gen') :][:2]) == 0 else later
        for inlink in link.node.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all():
            if isinstance(inlink.node, orm.StructureData) and inlink.node.uuid not in first:
                target.setdefault(inlink.node.uuid, inlink.node)
    return first, later


def label(structures: dict[str, Any], what: str) -> Any:
    """Oracle labels of ``structures`` (one LabellingWorkChain); their training set."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

    inputs = {f's{i:05d}': node for i, node in enumerate(structures.values())}
    results, node = run_get_node(
        LabellingWorkChain, structures=inputs, oracle=orm.Str('emt'), failure_budget=orm.Float(1.0)
    )
    print(f'    {what}: {len(inputs)} candidates labelled (LabellingWorkChain<{node.pk}>)')
    _group().add_nodes(node)
    return results['training_set']


def _pick():
    from aiida.engine import calcfunction

    from aiida_mlip_autopipe.data.training_set import TrainingSetData

    @calcfunction
    def pick_frames(uuids, **training_sets):
        """The labels of the structures ``uuids``, in that order, from the training sets: one baseline's label set."""
        by_uuid = {f.info['structure_uuid']: f for s in training_sets.values() for f in s.get_frames()}
        return TrainingSetData.from_frames([by_uuid[uuid] for uuid in uuids.get_list()])

    return pick_frames


def fps_order(frames: list, cfg: Any, n: int, seed: int) -> list[int]:
    """Baseline (c): farthest point sampling on the config's SOAP over ``frames``."""
    from aiida_mlip_autopipe.selection.descriptors import soap_from_config
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    descriptors = soap_from_config(frames, list(cfg.target.elements), cfg.selection.descriptor)
    return [int(i) for i in farthest_point_sampling(descriptors, n, seed=seed).indices]


def fit_settings(cfg: Any, fit_seed: int) -> dict[str, Any]:
    spec = PREREGISTERED['fit']
    settings = cfg.training.model_dump(mode='json')
    settings.update(
        {
            'functions_per_element': spec['functions_per_element'],
            'maxiter': spec['maxiter'],
            'energy_weight': 1.0 - spec['kappa'],
            'force_weight': spec['kappa'],
            'test_fraction': 0.0,
            'warm_start': False,
            'seed': 1000 + fit_seed,
        }
    )
    return settings


def fit(training_set, settings: dict[str, Any], code, tag: str) -> Any:
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

    results, node = run_get_node(
        PacemakerCalculation,
        code=code,
        training_set=training_set,
        settings=orm.Dict(settings),
        metadata={'label': tag, 'options': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}},
    )
    _group().add_nodes(node)
    if not node.is_finished_ok:
        print(f'      fit {tag} failed [{node.exit_status}] {node.exit_message}')
        return None, node
    return results['potential'], node


def cost(frames: list) -> dict[str, float]:
    sizes = [len(f) for f in frames]
    return {'labels': len(sizes), 'atoms': int(sum(sizes)), 'atoms3': float(sum(s**3 for s in sizes))}


# ---------------------------------------------------------------------------------------
# The benchmark


def training_sets_of(node) -> list[tuple[int, str]]:
    """(labels, training-set UUID) per generation from the loop's own calls: for a loop stopped before its end.

    The benchmark may stop a loop once it holds the largest budget it needs; such a node has no
    ``history`` output, but its ``split_gen00`` and ``merge_genNN`` calls hold every training set.
    """
    from aiida.common.links import LinkType

    sets = []
    for link in node.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all():
        label = link.link_label
        if label == 'split_gen00' or label.startswith('merge_gen'):
            outputs = {o.link_label: o.node for o in link.node.base.links.get_outgoing(link_type=LinkType.CREATE).all()}
            result = outputs.get('training') or outputs.get('result')
            if result is not None:
                sets.append((result.num_frames, result.uuid))
    return sorted(sets)


def holdout_of(node) -> int:
    from aiida.common.links import LinkType

    for link in node.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all():
        if link.link_label == 'split_gen00':
            outputs = {o.link_label: o.node for o in link.node.base.links.get_outgoing(link_type=LinkType.CREATE).all()}
            return int(outputs['holdout'].num_frames) if 'holdout' in outputs else 0
    return 0


def label_sets(node, cfg, budgets: list[int], loop_seed: int) -> tuple[dict, dict]:
    """Per strategy and budget, the label set to fit (a TrainingSetData), and what the loop spent.

    Only the structures some baseline picks are labelled; a structure the loop labelled already keeps
    that label (the oracle is deterministic, so a second label would be the same numbers).
    """
    from aiida import orm

    pick = _pick()
    history = node.outputs.history.get_dict()['generations'] if 'history' in node.outputs else []
    loop_sets = [(r['labels_total'], r['training_set_uuid']) for r in history if r.get('training_set_uuid')]
    if not loop_sets:
        loop_sets = training_sets_of(node)
    first, later = offered(node)
    keys0, keys_all = list(first), list(first) + list(later)
    wanted = max(budgets)
    rng = np.random.default_rng(loop_seed)
    orders = {
        'a': [keys0[i] for i in rng.permutation(len(keys0))[:wanted]],
        'b': [keys_all[i] for i in rng.permutation(len(keys_all))[:wanted]],
        'c': [
            keys0[i] for i in fps_order([first[k].get_ase() for k in keys0], cfg, min(wanted, len(keys0)), loop_seed)
        ],
    }
    sources = {}
    if loop_sets:
        sources['loop'] = orm.load_node(loop_sets[-1][1])
    known = {f.info['structure_uuid'] for s in sources.values() for f in s.get_frames()}
    missing = {uuid: (first.get(uuid) or later[uuid]) for order in orders.values() for uuid in order}
    missing = {uuid: structure for uuid, structure in missing.items() if uuid not in known}
    if missing:
        sources['oracle'] = label(missing, f'seed {loop_seed}: structures only a baseline picks')
    sets: dict[str, dict[int, Any]] = {key: {} for key in STRATEGIES}
    for budget in budgets:
        held = [uuid for n, uuid in loop_sets if n <= budget]
        if held:
            sets['loop'][budget] = orm.load_node(held[-1])
        for key, order in orders.items():
            if budget <= len(order):
                sets[key][budget] = pick(orm.List(order[:budget]), **sources)
    spent = {
        'loop_pk': node.pk,
        'exit_status': node.exit_status,
        'stop': node.outputs.stop.get_dict() if 'stop' in node.outputs else None,
        'wall_seconds': (node.mtime - node.ctime).total_seconds(),
        'generations': len(history),
        'labels_per_generation': [n for n, _ in loop_sets],
        'finished': node.is_finished,
        'holdout_labels': int(history[-1].get('holdout_total', 0)) if history else holdout_of(node),
        'pool0': len(keys0),
        'offered': len(keys_all),
    }
    return sets, spent


def benchmark(
    system: str,
    budgets: list[int],
    loop_seeds: list[int],
    fit_seeds: list[int],
    path: Path,
    resume: bool,
    test_set_pk: int | None = None,
    loop_pks: dict[int, int] | None = None,
) -> dict:
    from aiida import orm

    from aiida_mlip_autopipe.data.training_set import TrainingSetData

    spec = SYSTEMS[system]
    record = json.loads(path.read_text()) if resume and path.is_file() else {}
    record.update(
        {
            'system': system,
            'title': spec['title'],
            'preregistered': PREREGISTERED,
            'ran': {'budgets': budgets, 'loop_seeds': loop_seeds, 'fit_seeds': fit_seeds},
        }
    )
    record.setdefault('points', [])
    record.setdefault('loops', {})
    print(f'\n=== {spec["title"]}: budgets {budgets}, loop seeds {loop_seeds}, fit seeds {fit_seeds} ===')
    if test_set_pk is not None:
        record['test_set_pk'] = test_set_pk
    if 'test_set_pk' in record:
        test_set = orm.load_node(record['test_set_pk'])
        record.setdefault(
            'test_set', {c: sum(f.info['category'] == c for f in test_set.get_frames()) for c in CATEGORIES}
        )
        frames = test_set.get_frames()
    else:
        started = time.time()
        frames = build_test_set(spec['elements'], PREREGISTERED['test_set_seed'])
        test_set = TrainingSetData.from_frames(frames)
        test_set.label = f'label-budget test set {system} (EMT, held out)'
        test_set.store()
        _group().add_nodes(test_set)
        record['test_set_pk'] = test_set.pk
        record['test_set'] = {
            c: sum(f.info['category'] == c for f in frames) for c in ('md', 'strain', 'defect', 'surface')
        }
        print(
            f'  test set: {len(frames)} frames {record["test_set"]} '
            f'(TrainingSetData<{test_set.pk}>, {time.time() - started:.0f} s)'
        )
    done = {(p['strategy'], p['budget'], p['loop_seed'], p['fit_seed']) for p in record['points']}
    loop_pks = loop_pks or {}
    prepared = {}
    for loop_seed in loop_seeds:
        cfg = loop_config(system, loop_seed, max(budgets))
        known = record['loops'].get(str(loop_seed))
        pk = known['loop_pk'] if known else loop_pks.get(loop_seed)
        node = orm.load_node(pk) if pk else run_loop(system, loop_seed, max(budgets))
        sets, spent = label_sets(node, cfg, budgets, loop_seed)
        record['loops'][str(loop_seed)] = spent
        path.write_text(json.dumps(record, indent=1))
        prepared[loop_seed] = (cfg, node.inputs.training.pacemaker.code, sets)
    # Fit seed outermost: an interrupted run has every budget and strategy at the first fit seed.
    for fit_seed in fit_seeds:
        for budget in budgets:
            for loop_seed, (cfg, code, sets) in prepared.items():
                for key in STRATEGIES:
                    training_set = sets[key].get(budget)
                    if training_set is None or (key, budget, loop_seed, fit_seed) in done:
                        continue
                    tag = f'{system} {key} B={budget} loop seed {loop_seed} fit seed {fit_seed}'
                    potential, fit_node = fit(training_set, fit_settings(cfg, fit_seed), code, tag)
                    point = {
                        'strategy': key,
                        'budget': budget,
                        'loop_seed': loop_seed,
                        'fit_seed': fit_seed,
                        'training_set_pk': training_set.pk,
                        'fit_pk': fit_node.pk,
                        'fit_seconds': (fit_node.mtime - fit_node.ctime).total_seconds(),
                        **cost(training_set.get_frames()),
                    }
                    if potential is not None:
                        point.update(potential_pk=potential.pk, **evaluate(potential, frames))
                        print(
                            f'    {key:4s} B={budget:4d} n={point["labels"]:4d} seed {loop_seed}/{fit_seed}: '
                            f'F {point["force_rmse"]:6.1f} meV/Å, E {point["energy_rmse"]:6.2f} meV/atom '
                            f'({point["fit_seconds"]:.0f} s)',
                            flush=True,
                        )
                    record['points'].append(point)
                    record['summary'] = summarise(record)
                    path.write_text(json.dumps(record, indent=1))
    record['summary'] = summarise(record)
    path.write_text(json.dumps(record, indent=1))
    return record


# ---------------------------------------------------------------------------------------
# Summary


def _curve(record: dict, key: str, loop_seed: int, metric: str) -> tuple[list[float], list[float]]:
    """One strategy's curve for one loop seed: mean over fit seeds at each budget (x: labels actually used)."""
    xs, ys = [], []
    for budget in sorted({p['budget'] for p in record['points']}):
        pts = [
            p
            for p in record['points']
            if p['strategy'] == key and p['budget'] == budget and p['loop_seed'] == loop_seed and metric in p
        ]
        if pts:
            xs.append(float(np.mean([p['labels'] for p in pts])))
            ys.append(float(np.mean([p[metric] for p in pts])))
    return xs, ys


def summarise(record: dict) -> dict:
    """Median and range over loop seeds per budget; labels to each pre-registered target; the ratios."""
    targets = PREREGISTERED['targets'][record['system']]
    seeds = sorted({p['loop_seed'] for p in record['points']})
    out: dict[str, Any] = {'table': {}, 'reach': {}, 'ratios': {}}
    for key in STRATEGIES:
        for budget in sorted({p['budget'] for p in record['points']}):
            row = {}
            for metric, _ in KEYS:
                values = []
                for seed in seeds:
                    pts = [
                        p[metric]
                        for p in record['points']
                        if (p['strategy'], p['budget'], p['loop_seed']) == (key, budget, seed) and metric in p
                    ]
                    if pts:
                        values.append(float(np.mean(pts)))
                if values:
                    row[metric] = {
                        'median': float(np.median(values)),
                        'min': min(values),
                        'max': max(values),
                        'n': len(values),
                    }
            pts = [p for p in record['points'] if (p['strategy'], p['budget']) == (key, budget)]
            if row and pts:
                row['labels'] = float(np.median([p['labels'] for p in pts]))
                row['atoms3'] = float(np.median([p['atoms3'] for p in pts]))
                out['table'].setdefault(key, {})[str(budget)] = row
        for metric, _ in KEYS:
            out['reach'].setdefault(key, {})[metric] = {}
            for tier, goals in (('target', targets), ('tight', PREREGISTERED['targets_tight'][record['system']])):
                out['reach'][key][metric][tier] = {
                    str(seed): labels_to_reach(*curve, goals[metric])
                    if (curve := _curve(record, key, seed, metric))[0]
                    else 'no data'
                    for seed in seeds
                }
    for base in ('a', 'b'):
        for metric, _ in KEYS:
            for tier in ('target', 'tight'):
                ratios = []
                for seed in seeds:
                    n_loop = out['reach']['loop'][metric][tier][str(seed)]
                    n_base = out['reach'][base][metric][tier][str(seed)]
                    if 'no data' in (n_loop, n_base):
                        ratios.append('no data')
                    elif n_loop is None:
                        ratios.append(None)  # the loop never reached it: no ratio for this seed
                    elif n_base is None:
                        top = max(_curve(record, base, seed, metric)[0])
                        ratios.append(f'>{top / n_loop:.1f}')  # the baseline never reached it within its budgets
                    else:
                        ratios.append(n_base / n_loop)
                numeric = [r for r in ratios if isinstance(r, float)]
                out['ratios'].setdefault(base, {}).setdefault(metric, {})[tier] = {
                    'per_seed': ratios,
                    'median_of_numeric': float(np.median(numeric)) if numeric else None,
                    'target': PREREGISTERED['ratio_targets'][base],
                }
    return out


def _fmt(cell: dict | None) -> str:
    if not cell:
        return '–'
    seeds = (
        '' if cell['n'] >= len(PREREGISTERED['loop_seeds']) else f' [{cell["n"]} seed{"s" if cell["n"] > 1 else ""}]'
    )
    if cell['n'] == 1:
        return f'{cell["median"]:.1f}{seeds}'
    return f'{cell["median"]:.1f} ({cell["min"]:.1f}–{cell["max"]:.1f}){seeds}'


def _reach(value: Any) -> str:
    return 'never' if value is None else value if isinstance(value, str) else f'{value:.0f}'


def _ratio(value: Any) -> str:
    return '– (loop never)' if value is None else value if isinstance(value, str) else f'{value:.2f}'


def _meets(ratio: Any, target: float) -> bool:
    """A seed meets the ratio target when its ratio (or its lower bound, '>x') is at least ``target``."""
    if isinstance(ratio, float):
        return ratio >= target
    return isinstance(ratio, str) and ratio.startswith('>') and float(ratio[1:]) >= target


def markdown(record: dict) -> str:
    summary = record['summary']
    targets = PREREGISTERED['targets'][record['system']]
    ran = record['ran']
    lines = [
        f'**{record["title"]}** — loop seeds {ran["loop_seeds"]}, fit seeds done per point '
        f'{sorted({p["fit_seed"] for p in record["points"]})} (pre-registered {PREREGISTERED["fit_seeds"]}), '
        f'{PREREGISTERED["fit"]["functions_per_element"]} functions per element, budgets {ran["budgets"]} '
        f'(pre-registered {PREREGISTERED["budgets"]}); held-out set {record.get("test_set")}. '
        f'Median over loop seeds (range); force RMSE meV/Å / energy RMSE meV/atom.',
        '',
        '| labels | ' + ' | '.join(STRATEGIES.values()) + ' |',
        '|---|' + '---|' * len(STRATEGIES),
    ]
    for budget in ran['budgets']:
        cells = []
        for key in STRATEGIES:
            row = summary['table'].get(key, {}).get(str(budget))
            cells.append(
                f'{_fmt(row and row.get("force_rmse"))} / {_fmt(row and row.get("energy_rmse"))}' if row else '–'
            )
        lines.append(f'| {budget} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    tight = PREREGISTERED['targets_tight'][record['system']]
    for metric, unit in KEYS:
        for tier, goals in (('target', targets), ('tight', tight)):
            reach = {
                key: ', '.join(_reach(v) for v in summary['reach'][key][metric][tier].values()) for key in STRATEGIES
            }
            lines.append(
                f'- {metric.split("_")[0]} {"target" if tier == "target" else "tight target"} {goals[metric]} {unit}: '
                'labels to reach it per loop seed — ' + '; '.join(f'{key}: {reach[key]}' for key in STRATEGIES)
            )
            for base in ('a', 'b'):
                r = summary['ratios'][base][metric][tier]
                shown = ', '.join(_ratio(v) for v in r['per_seed'])
                met = all(_meets(v, r['target']) for v in r['per_seed'])
                verdict = 'MET' if met else 'NOT MET'
                lines.append(f'  - ({base}) / loop: {shown} (target ≥ {r["target"]:g} in every seed: {verdict})')
    return '\n'.join(lines)


def plot(record: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    targets = PREREGISTERED['targets'][record['system']]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (metric, unit) in zip(axes, KEYS):
        for key, name in STRATEGIES.items():
            rows = record['summary']['table'].get(key, {})
            budgets = sorted(rows, key=int)
            if not budgets:
                continue
            x = [int(b) for b in budgets]
            med = [rows[b][metric]['median'] for b in budgets]
            ax.plot(x, med, marker='o', label=name)
            ax.fill_between(
                x, [rows[b][metric]['min'] for b in budgets], [rows[b][metric]['max'] for b in budgets], alpha=0.15
            )
        ax.axhline(targets[metric], color='k', ls='--', lw=0.8, label='pre-registered target')
        ax.set_xscale('log', base=2)
        ax.set_yscale('log')
        ax.set_xlabel('labels (DFT budget)')
        ax.set_ylabel(f'{metric.replace("_", " ")} ({unit}), held-out')
    axes[0].legend(fontsize=7)
    fig.suptitle(f'{record["title"]}: median over loop seeds, range shaded')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def merge(records: list[dict]) -> dict:
    """Records of one system run side by side (e.g. one process per loop seed), joined; same test set required."""
    record = records[0]
    for other in records[1:]:
        if (other['system'], other['test_set_pk']) != (record['system'], record['test_set_pk']):
            raise SystemExit('records of different systems or test sets cannot be joined')
        seen = {(q['strategy'], q['budget'], q['loop_seed'], q['fit_seed']) for q in record['points']}
        record['points'] += [
            q for q in other['points'] if (q['strategy'], q['budget'], q['loop_seed'], q['fit_seed']) not in seen
        ]
        record['loops'].update(other['loops'])
        for name in ('budgets', 'loop_seeds', 'fit_seeds'):
            record['ran'][name] = sorted(set(record['ran'][name]) | set(other['ran'][name]))
    record['summary'] = summarise(record)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--system', choices=sorted(SYSTEMS), default='al')
    parser.add_argument('--budgets', type=int, nargs='+', default=PREREGISTERED['budgets'])
    parser.add_argument('--loop-seeds', type=int, nargs='+', default=PREREGISTERED['loop_seeds'])
    parser.add_argument('--fit-seeds', type=int, nargs='+', default=PREREGISTERED['fit_seeds'])
    parser.add_argument('--resume', action='store_true', help='keep the points of an earlier record and skip them')
    parser.add_argument(
        '--loop-pk', type=int, nargs='+', help='loops to reuse, one per --loop-seeds value (a stopped one too)'
    )
    parser.add_argument('--test-set', type=int, help='PK of a test set built by an earlier run of this script')
    parser.add_argument('--output', type=Path, help='the record (default benchmarks/output/label_budget_<system>.json)')
    parser.add_argument(
        '--resummarise',
        type=Path,
        nargs='+',
        help='recompute summary, table and figure of records (joined into the first)',
    )
    args = parser.parse_args()
    for name, given in (('budgets', args.budgets), ('loop_seeds', args.loop_seeds), ('fit_seeds', args.fit_seeds)):
        if not set(given) <= set(PREREGISTERED[name]):
            parser.error(f'--{name.replace("_", "-")}: only pre-registered values {PREREGISTERED[name]} may run')
    OUTPUT.mkdir(parents=True, exist_ok=True)
    if args.resummarise:
        record = merge([json.loads(p.read_text()) for p in args.resummarise])
        path = args.resummarise[0]
    else:
        from aiida import load_profile

        load_profile()
        path = args.output or OUTPUT / f'label_budget_{args.system}.json'
        if args.loop_pk and len(args.loop_pk) != len(args.loop_seeds):
            parser.error('--loop-pk: give one PK per --loop-seeds value')
        record = benchmark(
            args.system,
            sorted(args.budgets),
            args.loop_seeds,
            args.fit_seeds,
            path,
            args.resume,
            args.test_set,
            dict(zip(args.loop_seeds, args.loop_pk or [], strict=True)),
        )
    path.write_text(json.dumps(record, indent=1))
    table = markdown(record)
    path.with_suffix('.md').write_text(table + '\n')
    print(table)
    print(f'figure: {plot(record, path.with_suffix(".png"))}')


if __name__ == '__main__':
    main()
