"""Data efficiency of the active-learning loop against random sampling, on a held-out test set.

For each system (fcc Al; Cu–Au 50/50 with SQS), with the EMT oracle standing in for DFT
(``benchmark.oracle: emt`` — BENCHMARKS ONLY, the labels are not DFT):

1. **Loop.** The real ``ActiveLearningWorkChain`` (oracle labels, real pacemaker, real
   LAMMPS driver) runs from ``benchmarks/configs/<system>_emt.yaml``.
2. **Pools.** Every candidate the loop was offered (the generation-0 pool and every
   later generation's extracted environments: the inputs of its ``screen_gen*`` calls)
   is labelled by the oracle (``LabellingWorkChain`` with ``oracle``).
3. **Fits with identical settings.** From scratch (no warm start), with the loop's
   ``training`` settings and ``--maxiter`` iterations, on
   - the loop's own training set at several generations (*loop labels*), and
   - nested random subsets of the pools of the same and larger sizes, one chain per
     ``--seeds`` value (*random*).
   The loop's own warm-started potentials (*loop as run*) are evaluated too.
4. **Held-out test set** that neither saw, built here with its own seed and labelled by
   the oracle: ASE Langevin MD frames at 300/600/900 K (32 and 108 atoms), strained cells
   (±2–4 % and shear, 300 K) and defective cells (vacancy, divacancy, interstitial or
   antisite; 300/600 K). Energy RMSE in meV/atom, force RMSE per component in meV/Å.
5. **Ratios.** A target is the tightest error both strategies reach — ``1.1 × max(best
   of the loop labels, best of the random median)`` — unless given with
   ``--target-force``/``--target-energy``. Labels to reach it are read off each curve
   (first crossing, log-linear interpolation); the ratio random / loop is printed for
   the force and the energy target, with the spread over the random seeds. Target of the
   issue: >= 5 for both.

Everything runs in the default AiiDA profile (nodes in the group
``benchmarks/data_efficiency``); curves, numbers and a PNG go to ``benchmarks/output/``.

    python benchmarks/data_efficiency.py                      # Al and Cu–Au (about 1-2 h on 2 cores)
    python benchmarks/data_efficiency.py --system al --seeds 0 1 2
    python benchmarks/data_efficiency.py --system al --loop-pk 1234   # reuse a finished loop
    python benchmarks/data_efficiency.py --system al --quick  # 4 generations, 1 seed: a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'benchmarks' / 'configs'
OUTPUT = ROOT / 'benchmarks' / 'output'
GROUP = 'benchmarks/data_efficiency'
TEST_SEED = 20261126  # the held-out test set's own seed: never used by the loop or the pools

SYSTEMS = {
    'al': {'config': 'al_emt.yaml', 'elements': ['Al'], 'title': 'fcc Al (EMT oracle)'},
    'cuau': {'config': 'cuau_emt.yaml', 'elements': ['Cu', 'Au'], 'title': 'Cu–Au 50/50 fcc, SQS (EMT oracle)'},
}


# ---------------------------------------------------------------------------------------
# Held-out test set


def _emt_lattice_constant(symbols_for_cell) -> float:
    """Equilibrium cubic lattice constant (Å) under EMT of the 4-atom fcc cell decorated by ``symbols_for_cell``."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState

    volumes, energies = [], []
    for a in np.linspace(3.5, 4.2, 15):
        atoms = bulk('Cu', 'fcc', a=a, cubic=True).repeat(2)
        atoms.set_chemical_symbols(symbols_for_cell(len(atoms)))
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    best = int(np.argmin(energies))
    lo, hi = max(0, best - 3), min(len(volumes), best + 4)
    v0, _, _ = EquationOfState(volumes[lo:hi], energies[lo:hi]).fit()
    return (v0 / 8) ** (1 / 3)


def _decorate(atoms, elements: list[str], rng: np.random.Generator):
    """Random 50/50 decoration for the alloy (the pools use SQS; the test set uses plain random alloys)."""
    if len(elements) == 1:
        atoms.set_chemical_symbols([elements[0]] * len(atoms))
        return atoms
    n = len(atoms)
    symbols = np.array([elements[0]] * (n // 2) + [elements[1]] * (n - n // 2))
    rng.shuffle(symbols)
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def _md_frames(atoms, temperature: float, rng: np.random.Generator, n_frames: int, equil: int = 300, every: int = 40):
    """Langevin MD with EMT (2 fs): ``n_frames`` frames every ``every`` steps after ``equil`` steps."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = atoms.copy()
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02, rng=rng, fixcm=False)
    dyn.run(equil)
    frames = []
    for _ in range(n_frames):
        dyn.run(every)
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(
            frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        frames.append(frame)
    return frames


def strained(cell, scale: float, max_shear: float, rng: np.random.Generator) -> None:
    """Scale ``cell`` linearly by ``scale`` and shear it by up to ``max_shear`` (random, symmetric)."""
    eps = np.eye(3) * scale
    shear = rng.uniform(-max_shear, max_shear, 3)
    eps[1, 2] = eps[2, 1] = shear[0]
    eps[0, 2] = eps[2, 0] = shear[1]
    eps[0, 1] = eps[1, 0] = shear[2]
    cell.set_cell(cell.cell.array @ eps, scale_atoms=True)


def defective(cell, kind: str, elements: list[str], a0: float, rng: np.random.Generator) -> None:
    """One defect in the fcc ``cell``: vacancy, nearest-neighbour divacancy, octahedral interstitial, antisite."""
    from ase import Atom

    if kind == 'vacancy':
        del cell[int(rng.integers(len(cell)))]
    elif kind == 'divacancy':
        first = int(rng.integers(len(cell)))
        distances = cell.get_distances(first, range(len(cell)), mic=True)
        second = int(np.argsort(distances)[1])  # nearest neighbour
        del cell[[first, second]]
    elif kind == 'interstitial':
        cell.append(Atom(elements[0], position=(a0 / 2, 0.0, 0.0)))  # octahedral site
    else:
        symbols = cell.get_chemical_symbols()
        i = symbols.index(elements[0])
        j = symbols.index(elements[1])
        symbols[i], symbols[j] = symbols[j], symbols[i]
        cell.set_chemical_symbols(symbols)


def build_test_set(elements: list[str], seed: int = TEST_SEED) -> list:
    """The held-out frames, labelled by EMT, each with ``info['category']`` (md, strain, defect)."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    cell8 = bulk('Cu', 'fcc', a=1, cubic=True).repeat(2)
    a0 = _emt_lattice_constant(lambda n: list(_decorate(cell8.copy(), elements, rng).symbols))
    unit = bulk('Cu', 'fcc', a=a0, cubic=True)
    frames = []

    def add(new, category, detail):
        for frame in new:
            frame.info.update(category=category, detail=detail)
        frames.extend(new)

    # MD frames: 32- and 108-atom cells at three temperatures.
    for reps in (2, 3):
        for temperature in (300, 600, 900):
            cell = _decorate(unit.repeat(reps), elements, rng)
            add(_md_frames(cell, temperature, rng, 8), 'md', f'{len(cell)} atoms {temperature} K')
    # Strained cells (linear strain and random shear), thermalised at 300 K.
    for strain in (-0.04, -0.02, 0.02, 0.04, 0.0, 0.0):
        cell = _decorate(unit.repeat(2), elements, rng)
        strained(cell, 1 + strain, 0.02 if strain == 0.0 else 0.01, rng)
        add(_md_frames(cell, 300, rng, 4), 'strain', f'strain {strain:+.2f}')
    # Defective cells: vacancy, divacancy, interstitial (octahedral site) or antisite pair, at 300 and 600 K.
    for kind in ('vacancy', 'divacancy', 'interstitial' if len(elements) == 1 else 'antisite'):
        for temperature in (300, 600):
            cell = _decorate(unit.repeat(2), elements, rng)
            defective(cell, kind, elements, a0, rng)
            add(_md_frames(cell, temperature, rng, 4), 'defect', f'{kind} {temperature} K')
    return frames


# ---------------------------------------------------------------------------------------
# Evaluation


def evaluate(potential, frames: list) -> dict[str, float]:
    """RMSE of energy (meV/atom) and force components (meV/Å) of ``potential`` on ``frames``, by category too."""
    de, df = potential.prediction_errors(frames)
    cats = [frame.info['category'] for frame in frames]
    result = {
        'energy_rmse': 1000 * float(np.sqrt(np.mean(de**2))),
        'force_rmse': 1000 * float(np.sqrt(np.mean(np.concatenate(df) ** 2))),
    }
    for cat in sorted(set(cats)):
        mask = [c == cat for c in cats]
        result[f'energy_rmse_{cat}'] = 1000 * float(np.sqrt(np.mean(de[mask] ** 2)))
        result[f'force_rmse_{cat}'] = 1000 * float(
            np.sqrt(np.mean(np.concatenate([d for d, m in zip(df, mask) if m]) ** 2))
        )
    return result


def labels_to_reach(ns: list[float], rmses: list[float], target: float) -> float | None:
    """First number of labels at which the curve reaches ``target`` (log-linear interpolation), or None."""
    for i, (n, r) in enumerate(zip(ns, rmses)):
        if r <= target:
            if i == 0:
                return float(n)
            n0, r0 = ns[i - 1], rmses[i - 1]
            t = (r0 - target) / (r0 - r) if r0 != r else 1.0
            return float(math.exp(math.log(n0) + t * (math.log(n) - math.log(n0))))
    return None


# ---------------------------------------------------------------------------------------
# AiiDA parts


@dataclass
class Curve:
    """RMSEs against number of labels, with the node PKs behind each point."""

    name: str
    points: list[dict[str, Any]] = field(default_factory=list)

    def series(self, key: str, x: str = 'labels') -> tuple[list[int], list[float]]:
        pts = sorted(self.points, key=lambda p: p[x])
        return [p[x] for p in pts], [p[key] for p in pts]


def _group():
    from aiida import orm

    group, _ = orm.Group.collection.get_or_create(GROUP)
    return group


def run_loop(system: str, quick: bool) -> Any:
    """Run the real ActiveLearningWorkChain on the benchmark config; return its node."""
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.config import load_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

    config = load_config(CONFIGS / SYSTEMS[system]['config'])
    overrides = {'loop': {'max_generations': 4}} if quick else None
    builder = ActiveLearningWorkChain.get_builder_from_protocol(config, overrides=overrides)
    builder.metadata.label = f'data-efficiency {system}'
    started = time.time()
    _, node = run_get_node(builder)
    print(f'  loop: ActiveLearningWorkChain<{node.pk}> [{node.exit_status}] in {time.time() - started:.0f} s')
    _group().add_nodes(node)
    return node


def loop_pools(node) -> dict[str, Any]:
    """Every candidate the loop was offered: the inputs of its screening calls, by UUID (stable order)."""
    from aiida import orm
    from aiida.common.links import LinkType

    pools = {}
    for link in sorted(node.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all(), key=lambda x: x.node.pk):
        if not link.link_label.startswith('screen_gen'):
            continue
        for inlink in link.node.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all():
            if isinstance(inlink.node, orm.StructureData):
                pools.setdefault(inlink.node.uuid, inlink.node)
    return pools


def label_pool(pools: dict[str, Any]) -> Any:
    """Label the whole pool with the oracle in one LabellingWorkChain; return its training set."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

    structures = {f's{i:05d}': node for i, node in enumerate(pools.values())}
    started = time.time()
    results, node = run_get_node(
        LabellingWorkChain, structures=structures, oracle=orm.Str('emt'), failure_budget=orm.Float(1.0)
    )
    print(
        f'  pool: {len(structures)} candidates labelled by the oracle in {time.time() - started:.0f} s '
        f'(LabellingWorkChain<{node.pk}>, {results["failures"]["num_failed"]} failed)'
    )
    _group().add_nodes(node)
    return results['training_set']


def _subset_function():
    from aiida.engine import calcfunction

    from aiida_mlip_autopipe.data.training_set import TrainingSetData

    @calcfunction
    def random_subset(training_set, size, seed):
        """The first ``size`` frames of a seeded permutation: nested subsets for growing ``size``."""
        frames = training_set.get_frames()
        order = np.random.default_rng(seed.value).permutation(len(frames))
        return TrainingSetData.from_frames([frames[i] for i in order[: size.value]])

    return random_subset


def fit(training_set, settings: dict[str, Any], code, label: str) -> tuple[Any, float]:
    """A cold PacemakerCalculation with ``settings``; returns (potential or None, wall seconds of the node)."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.training.calculation import PacemakerCalculation

    results, node = run_get_node(
        PacemakerCalculation,
        code=code,
        training_set=training_set,
        settings=orm.Dict(settings),
        metadata={'label': label, 'options': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}},
    )
    _group().add_nodes(node)
    seconds = (node.mtime - node.ctime).total_seconds()
    if not node.is_finished_ok:
        print(f'    fit {label} failed [{node.exit_status}] {node.exit_message}')
        return None, seconds
    return results['potential'], seconds


def size_grid(start: int, stop: int, factor: float = 1.5) -> list[int]:
    """Geometric grid of subset sizes from ``start`` to ``stop`` (both included)."""
    sizes = [start]
    while sizes[-1] * factor < stop:
        sizes.append(max(sizes[-1] + 1, round(sizes[-1] * factor)))
    if sizes[-1] != stop:
        if sizes[-1] > stop / 1.2 and len(sizes) > 1:
            sizes[-1] = stop  # no near-duplicate last point (e.g. 162 and 164)
        else:
            sizes.append(stop)
    return sizes


# ---------------------------------------------------------------------------------------
# The benchmark


def benchmark(
    system: str,
    seeds: list[int],
    maxiter: int,
    loop_pk: int | None,
    quick: bool,
    target_force: float | None,
    target_energy: float | None,
) -> dict[str, Any]:
    """Run one system end to end; return the record that is written as JSON."""
    from aiida import orm

    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.data.training_set import TrainingSetData

    spec = SYSTEMS[system]
    print(f'\n=== {spec["title"]} ===')
    started = time.time()
    frames = build_test_set(spec['elements'])
    test_set = TrainingSetData.from_frames(frames)
    test_set.label = f'data-efficiency test set {system} (EMT, held out)'
    test_set.store()
    _group().add_nodes(test_set)
    cats = {c: sum(f.info['category'] == c for f in frames) for c in ('md', 'strain', 'defect')}
    print(
        f'  test set: {len(frames)} frames {cats}, {sum(len(f) for f in frames)} atoms '
        f'(TrainingSetData<{test_set.pk}>, built in {time.time() - started:.0f} s)'
    )

    node = orm.load_node(loop_pk) if loop_pk is not None else run_loop(system, quick)
    if not node.is_finished_ok:
        print(f'  WARNING: the loop ended [{node.exit_status}] {node.exit_message}; using what it produced')
    config = parse_config(node.inputs.config.get_dict())
    history = node.outputs.history.get_dict()['generations']
    code = node.inputs.training.pacemaker.code
    loop_seconds = (node.mtime - node.ctime).total_seconds()

    # The loop as run: its own warm-started potential of every generation.
    as_run = Curve('loop as run (warm start)')
    for record in history:
        if 'potential_uuid' not in record:
            continue
        metrics = evaluate(orm.load_node(record['potential_uuid']), frames)
        as_run.points.append(
            {
                'labels': record['labels_total'],
                'generation': record['generation'],
                'potential_pk': orm.load_node(record['potential_uuid']).pk,
                **metrics,
            }
        )

    if not as_run.points:
        raise SystemExit(f'the loop ActiveLearningWorkChain<{node.pk}> produced no potential; nothing to compare')
    settings = config.training.model_dump(mode='json')
    settings.update({'maxiter': maxiter, 'test_fraction': 0.0, 'warm_start': False})

    # The loop's labels, refitted from scratch with the shared settings, at about x1.4 steps.
    loop_sets = [(r['labels_total'], r['training_set_uuid']) for r in history if r.get('training_set_uuid')]
    chosen, last = [], 0
    for i, (n, uuid) in enumerate(loop_sets):
        if n >= 1.4 * last or i == len(loop_sets) - 1:
            chosen.append((n, uuid))
            last = n
    refit = Curve('loop labels (refit)')
    fit_seconds = []
    for n, uuid in chosen:
        potential, seconds = fit(orm.load_node(uuid), settings, code, f'{system} loop labels n={n}')
        fit_seconds.append((n, seconds))
        if potential is not None:
            refit.points.append({'labels': n, 'potential_pk': potential.pk, **evaluate(potential, frames)})
            p = refit.points[-1]
            print(f'    loop labels  n={n:4d}: F {p["force_rmse"]:6.1f} meV/Å, E {p["energy_rmse"]:6.2f} meV/atom')

    # Random subsets of the same pools, nested per seed, same settings.
    pool_set = label_pool(loop_pools(node))
    random_subset = _subset_function()
    start = loop_sets[0][0] if loop_sets else config.selection.n_select
    grid = size_grid(start, pool_set.num_frames)
    randoms = []
    for seed in seeds:
        curve = Curve(f'random seed {seed}')
        for n in grid:
            subset = random_subset(pool_set, orm.Int(n), orm.Int(seed))
            potential, seconds = fit(subset, settings, code, f'{system} random seed={seed} n={n}')
            fit_seconds.append((n, seconds))
            if potential is None:
                continue
            curve.points.append({'labels': n, 'potential_pk': potential.pk, **evaluate(potential, frames)})
            p = curve.points[-1]
            print(f'    random s={seed} n={n:4d}: F {p["force_rmse"]:6.1f} meV/Å, E {p["energy_rmse"]:6.2f} meV/atom')
        randoms.append(curve)

    record = {
        'system': system,
        'title': spec['title'],
        'loop_pk': node.pk,
        'loop_exit_status': node.exit_status,
        'loop_stop': node.outputs.stop.get_dict() if 'stop' in node.outputs else None,
        'loop_wall_seconds': loop_seconds,
        'loop_generations': len(history),
        'loop_timings': [r.get('timings', {}) for r in history],
        'test_set_pk': test_set.pk,
        'test_set': cats,
        'pool_size': pool_set.num_frames,
        'pool_set_pk': pool_set.pk,
        'refit_settings': settings,
        'seeds': seeds,
        'fit_seconds': fit_seconds,
        'curves': {c.name: c.points for c in [as_run, refit, *randoms]},
    }
    add_labelled_atoms(record)
    record['summary'] = summarise(record, refit, randoms, as_run, target_force, target_energy)
    return record


def add_labelled_atoms(record: dict) -> None:
    """Give every point the number of atoms its labels hold (DFT cost grows with it), from the fit's inputs."""
    from aiida import orm

    for points in record['curves'].values():
        for point in points:
            if 'atoms' in point:
                continue
            fit_node = orm.load_node(point['potential_pk']).creator
            atoms = fit_node.inputs.training_set.base.attributes.get('num_atoms', None)
            if atoms is None:
                atoms = sum(len(f) for f in fit_node.inputs.training_set.get_frames())
            point['atoms'] = int(atoms)


def resummarise(path: Path, target_force: float | None, target_energy: float | None) -> dict:
    """Recompute targets, ratios and the figure from a written record (no fits are run)."""
    record = json.loads(path.read_text())
    add_labelled_atoms(record)
    curves = record['curves']
    refit = Curve('loop labels (refit)', curves['loop labels (refit)'])
    as_run = Curve('loop as run (warm start)', curves['loop as run (warm start)'])
    randoms = [Curve(name, pts) for name, pts in curves.items() if name.startswith('random')]
    record['summary'] = summarise(record, refit, randoms, as_run, target_force, target_energy)
    return record


def _median_curve(randoms: list[Curve], key: str) -> tuple[list[int], list[float]]:
    sizes = sorted({p['labels'] for c in randoms for p in c.points})
    values = []
    for n in sizes:
        vals = [p[key] for c in randoms for p in c.points if p['labels'] == n]
        values.append(float(np.median(vals)))
    return sizes, values


def _median_or_none(values: list[float | None]) -> float | None:
    """Median, counting a seed that never reached the target as infinitely many; None if most never did."""
    ordered = sorted(math.inf if v is None else v for v in values)
    if not ordered:
        return None
    mid = float(np.median(ordered))
    return None if math.isinf(mid) else mid


def summarise(record, refit: Curve, randoms: list[Curve], as_run: Curve, target_force, target_energy) -> dict:
    """Targets, labels needed by each strategy and the ratios; printed as a table."""
    out = {}
    for key, given, unit in (('force_rmse', target_force, 'meV/Å'), ('energy_rmse', target_energy, 'meV/atom')):
        ns_loop, r_loop = refit.series(key)
        ns_rand, r_rand = _median_curve(randoms, key)
        if given is not None:
            target, how = given, 'given'
        else:
            target = 1.1 * max(min(r_loop), min(r_rand))
            how = '1.1 x max(best loop-labels RMSE, best random-median RMSE)'
        n_loop = labels_to_reach(ns_loop, r_loop, target)
        ns_run, r_run = as_run.series(key)
        per_seed = [labels_to_reach(*c.series(key), target) for c in randoms]
        n_run = labels_to_reach(ns_run, r_run, target)
        n_median = labels_to_reach(ns_rand, r_rand, target)
        reached = [n for n in per_seed if n is not None]
        entry = {
            'target': target,
            'target_rule': how,
            'unit': unit,
            'labels_loop_refit': n_loop,
            'labels_loop_as_run': n_run,
            'labels_random_median': n_median,
            'labels_random_per_seed': per_seed,
            # Headline: the median over the seeds of the labels each seed needs (a seed that never gets
            # there counts as infinitely many), against the loop's; then the same for the median curve.
            'labels_random_median_of_seeds': _median_or_none(per_seed),
            'ratio': (_median_or_none(per_seed) / n_loop) if n_loop and _median_or_none(per_seed) else None,
            'ratio_median_curve': (n_median / n_loop) if n_loop and n_median else None,
            'ratio_range': ([min(reached) / n_loop, max(reached) / n_loop] if n_loop and reached else None),
            'ratio_as_run': (n_median / n_run) if n_run and n_median else None,
            'best_loop_refit': min(r_loop),
            # The same on the number of labelled atoms (DFT cost grows with it): median over the seeds' crossings.
            'atoms_loop_refit': labels_to_reach(*refit.series(key, 'atoms'), target),
            'atoms_random_median': _median_or_none([labels_to_reach(*c.series(key, 'atoms'), target) for c in randoms]),
            'best_loop_as_run': min(r_run) if r_run else None,
            'best_random_median': min(r_rand),
        }
        # How the ratio moves with the target: looser targets (x1.25, x1.5, x2 of the default).
        sweep = {}
        for factor in (1.0, 1.25, 1.5, 2.0):
            t = target * factor
            a = labels_to_reach(ns_loop, r_loop, t)
            b = _median_or_none([labels_to_reach(*c.series(key), t) for c in randoms])
            sweep[f'{factor:g}'] = {'target': t, 'loop': a, 'random': b, 'ratio': (b / a) if a and b else None}
        entry['sweep'] = sweep
        out[key] = entry
    return out


def print_summary(record: dict) -> None:
    """The learning curves and the ratios, as plain text."""
    curves = record['curves']
    print(f'\n--- {record["title"]}: RMSE on the held-out test set ({sum(record["test_set"].values())} frames) ---')
    for name, points in curves.items():
        row = ', '.join(
            f'{p["labels"]}: {p["force_rmse"]:.0f}/{p["energy_rmse"]:.1f}'
            for p in sorted(points, key=lambda p: p['labels'])
        )
        print(f'  {name:28s} labels: F meV/Å / E meV/atom -> {row}')
    for key, entry in record['summary'].items():
        name = 'force' if key.startswith('force') else 'energy'
        fmt = lambda v: '-' if v is None else f'{v:.1f}'  # noqa: E731
        seeds = ', '.join(fmt(n) for n in entry['labels_random_per_seed'])
        spread = entry['ratio_range']
        print(
            f'  {name} target {entry["target"]:.2f} {entry["unit"]} ({entry["target_rule"]}): loop labels '
            f'{fmt(entry["labels_loop_refit"])} (loop as run {fmt(entry["labels_loop_as_run"])}), random median '
            f'{fmt(entry["labels_random_median_of_seeds"])} (seeds: {seeds}; median curve '
            f'{fmt(entry["labels_random_median"])}) -> ratio {fmt(entry["ratio"])}'
            + (f' [{spread[0]:.1f}-{spread[1]:.1f} over seeds]' if spread else '')
            + f' (median curve: {fmt(entry["ratio_median_curve"])})'
            + f'; target >= 5: {"MET" if entry["ratio"] and entry["ratio"] >= 5 else "NOT MET"}'
        )
        sweep = '; '.join(f'x{f}: {fmt(s["ratio"])}' for f, s in entry['sweep'].items())
        print(f'    ratio at looser targets: {sweep}')
        a, b = entry.get('atoms_loop_refit'), entry.get('atoms_random_median')
        print(
            f'    labelled atoms to reach it: loop {fmt(a)}, random median {fmt(b)}'
            + (f' -> ratio {b / a:.1f}' if a and b else '')
        )


def markdown_table(record: dict) -> str:
    """Test RMSE per number of labels: the loop's labels (refit), the loop as run, random (median and range)."""
    curves = record['curves']
    randoms = [pts for name, pts in curves.items() if name.startswith('random')]
    loop = {p['labels']: p for p in curves['loop labels (refit)']}
    run = {p['labels']: p for p in curves['loop as run (warm start)']}
    sizes = sorted(set(loop) | set(run) | {p['labels'] for pts in randoms for p in pts})
    lines = [
        '| labels | loop labels, F (meV/Å) / E (meV/atom) | loop as run, F / E | random median F / E (min–max F) |',
        '| --- | --- | --- | --- |',
    ]
    for n in sizes:
        r = [p for pts in randoms for p in pts if p['labels'] == n]
        cells = [
            f'{loop[n]["force_rmse"]:.1f} / {loop[n]["energy_rmse"]:.2f}' if n in loop else '',
            f'{run[n]["force_rmse"]:.1f} / {run[n]["energy_rmse"]:.2f}' if n in run else '',
            (
                f'{np.median([p["force_rmse"] for p in r]):.1f} / {np.median([p["energy_rmse"] for p in r]):.2f} '
                f'({min(p["force_rmse"] for p in r):.1f}–{max(p["force_rmse"] for p in r):.1f})'
                if r
                else ''
            ),
        ]
        lines.append(f'| {n} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(record: dict, path: Path) -> Path:
    """Force and energy RMSE against labels: loop (as run, refit), random median with min–max band."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    curves = record['curves']
    randoms = [Curve(name, pts) for name, pts in curves.items() if name.startswith('random')]
    for ax, key, unit in ((axes[0], 'force_rmse', 'meV/Å'), (axes[1], 'energy_rmse', 'meV/atom')):
        sizes = sorted({p['labels'] for c in randoms for p in c.points})
        vals = [[p[key] for c in randoms for p in c.points if p['labels'] == n] for n in sizes]
        ax.fill_between(
            sizes,
            [min(v) for v in vals],
            [max(v) for v in vals],
            color='tab:gray',
            alpha=0.3,
            label=f'random, min–max of {len(randoms)} seeds',
        )
        ax.plot(sizes, [np.median(v) for v in vals], 'o-', color='tab:gray', label='random, median')
        ns, rs = Curve('', curves['loop labels (refit)']).series(key)
        ax.plot(ns, rs, 's-', color='tab:blue', label='loop labels, same fit settings')
        ns, rs = Curve('', curves['loop as run (warm start)']).series(key)
        ax.plot(ns, rs, '.--', color='tab:orange', alpha=0.8, label='loop as run (warm-started fits)')
        entry = record['summary'][key]
        ax.axhline(entry['target'], color='k', lw=0.8, ls=':', label=f'target {entry["target"]:.1f}')
        ax.set(
            xscale='log',
            yscale='log',
            xlabel='labels (oracle calls)',
            ylabel=f'RMSE on held-out test set ({unit})',
            title=f'{"Forces" if key.startswith("force") else "Energies"}: ratio random/loop = '
            + ('-' if entry['ratio'] is None else f'{entry["ratio"]:.1f}'),
        )
        ax.grid(True, which='both', alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    axes[0].legend(fontsize=7)
    fig.suptitle(f'{record["title"]}: active learning vs random sampling (loop PK {record["loop_pk"]})', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--system', choices=sorted(SYSTEMS), action='append', help='al, cuau (default: both)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='random-sampling seeds')
    parser.add_argument('--maxiter', type=int, default=300, help='BFGS iterations of every from-scratch fit')
    parser.add_argument('--loop-pk', type=int, default=None, help='reuse a finished loop (one --system only)')
    parser.add_argument('--target-force', type=float, default=None, help='force RMSE target in meV/Å')
    parser.add_argument('--target-energy', type=float, default=None, help='energy RMSE target in meV/atom')
    parser.add_argument('--quick', action='store_true', help='4 generations and one seed: a smoke run')
    parser.add_argument('--resummarise', type=Path, help='recompute ratios and figure from a written JSON record')
    args = parser.parse_args()
    if args.resummarise is not None:
        from aiida import load_profile

        load_profile()
        record = resummarise(args.resummarise, args.target_force, args.target_energy)
        print_summary(record)
        args.resummarise.write_text(json.dumps(record, indent=1, default=str))
        print(markdown_table(record))
        print(f'  wrote {plot(record, args.resummarise.with_suffix(".png"))} and {args.resummarise}')
        return
    systems = args.system or ['al', 'cuau']
    if args.loop_pk is not None and len(systems) != 1:
        parser.error('--loop-pk needs exactly one --system')
    seeds = args.seeds[:1] if args.quick else args.seeds

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from aiida import load_profile

    load_profile()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for system in systems:
        started = time.time()
        record = benchmark(system, seeds, args.maxiter, args.loop_pk, args.quick, args.target_force, args.target_energy)
        record['benchmark_wall_seconds'] = time.time() - started
        record['machine'] = {
            'cpus': os.cpu_count(),
            'platform': platform.platform(),
            'load': os.getloadavg(),
            'date': time.strftime('%Y-%m-%d'),
        }
        print_summary(record)
        print(markdown_table(record))
        stem = OUTPUT / f'data_efficiency_{system}'
        stem.with_suffix('.json').write_text(json.dumps(record, indent=1, default=str))
        print(
            f'  wrote {plot(record, stem.with_suffix(".png"))} and {stem.with_suffix(".json")} '
            f'({record["benchmark_wall_seconds"] / 60:.0f} min)'
        )


if __name__ == '__main__':
    main()
