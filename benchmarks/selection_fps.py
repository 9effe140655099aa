"""SOAP + farthest point sampling: 100 picks from 10 000 candidates of 32 atoms.

Prints the wall time of the descriptors and of the vectorised FPS, and the ratio of
the FPS against a straightforward per-pair Python implementation (running minimum,
one distance per candidate and pick) in the same run; both must pick the same
structures. Target: SOAP + FPS under 10 s on 2 cores. SOAP and FPS timings are the best
of ``--repeat`` runs because the machine is shared; the per-pair version runs once.

    python benchmarks/selection_fps.py [--candidates 10000] [--atoms 32] [--select 100] [--labelled 50]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np


def make_candidates(n: int, n_atoms: int, seed: int = 0) -> list:
    """Si–Ge diamond cells: random occupation, ±4 % strain, 0–0.15 Å rattle."""
    from ase.build import bulk

    from aiida_mlip_autopipe.candidates.bulk import supercell_for_atoms
    from aiida_mlip_autopipe.candidates.distortions import random_strain, rattle

    base, _ = supercell_for_atoms(bulk('Si', 'diamond', a=5.54), n_atoms)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = base.copy()
        symbols = np.where(rng.random(len(atoms)) < rng.uniform(0.2, 0.8), 'Ge', 'Si')
        atoms.set_chemical_symbols(list(symbols))
        atoms, _ = random_strain(atoms, rng, (-0.04, 0.04), shear=0.02)
        atoms, _ = rattle(atoms, rng, rng.uniform(0.01, 0.15))
        out.append(atoms)
    return out


def naive_fps(x: np.ndarray, n: int, reference: np.ndarray) -> tuple[list[int], list[float]]:
    """The straightforward version: Python loops over candidates, one pair distance at a time."""
    m = len(x)
    nearest = [math.inf] * m
    for r in reference:
        for i in range(m):
            d = float(np.sqrt(np.sum((x[i] - r) ** 2)))
            if d < nearest[i]:
                nearest[i] = d
    picks: list[int] = []
    distances: list[float] = []
    chosen = [False] * m
    for _ in range(n):
        best, best_d = -1, -1.0
        for i in range(m):
            if not chosen[i] and nearest[i] > best_d:
                best, best_d = i, nearest[i]
        picks.append(best)
        distances.append(best_d)
        chosen[best] = True
        for i in range(m):
            d = float(np.sqrt(np.sum((x[i] - x[best]) ** 2)))
            if d < nearest[i]:
                nearest[i] = d
    return picks, distances


def main() -> None:
    from aiida_mlip_autopipe.selection.descriptors import soap_descriptors
    from aiida_mlip_autopipe.selection.fps import farthest_point_sampling

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--candidates', type=int, default=10_000)
    parser.add_argument('--atoms', type=int, default=32)
    parser.add_argument('--select', type=int, default=100)
    parser.add_argument('--labelled', type=int, default=50, help='size of the already-labelled set FPS starts from')
    parser.add_argument('--skip-naive', action='store_true')
    parser.add_argument('--repeat', type=int, default=3, help='best of this many runs of SOAP and FPS (shared machine)')
    parser.add_argument('--output', type=Path, default=Path(__file__).parent / 'output' / 'selection_fps.json')
    args = parser.parse_args()

    start = time.perf_counter()
    candidates = make_candidates(args.candidates, args.atoms, seed=0)
    labelled = make_candidates(args.labelled, args.atoms, seed=1)
    t_make = time.perf_counter() - start

    params = {'r_cut': 5.0, 'n_max': 6, 'l_max': 4, 'sigma': 0.5}  # the DescriptorConfig defaults
    soap_descriptors(candidates[:5], ['Si', 'Ge'], **params)  # numba/JIT warm-up, not timed
    t_soap = t_fps = float('inf')
    for _ in range(args.repeat):
        start = time.perf_counter()
        x = soap_descriptors(candidates, ['Si', 'Ge'], **params)
        reference = soap_descriptors(labelled, ['Si', 'Ge'], **params)
        t_soap = min(t_soap, time.perf_counter() - start)
        start = time.perf_counter()
        result = farthest_point_sampling(x, args.select, reference=reference, seed=0)
        t_fps = min(t_fps, time.perf_counter() - start)

    record = {
        'date': time.strftime('%Y-%m-%d'),
        'machine': f'{platform.machine()}, {os.cpu_count()} cores',
        'candidates': args.candidates,
        'atoms': args.atoms,
        'select': args.select,
        'labelled': args.labelled,
        'repeat': args.repeat,
        'load_average_1min': round(os.getloadavg()[0], 2),
        'features': int(x.shape[1]),
        'build_s': round(t_make, 2),
        'soap_s': round(t_soap, 2),
        'fps_s': round(t_fps, 3),
        'soap_plus_fps_s': round(t_soap + t_fps, 2),
    }
    print(f'{args.candidates} candidates x {args.atoms} atoms, {x.shape[1]} SOAP features, {args.labelled} labelled')
    print(f'SOAP (mean pooling)   : {t_soap:8.2f} s')
    print(f'FPS vectorised        : {t_fps:8.3f} s  ({args.select} picks)')
    print(f'SOAP + FPS            : {t_soap + t_fps:8.2f} s  (target < 10 s)')
    if not args.skip_naive:
        start = time.perf_counter()
        picks, distances = naive_fps(x, args.select, reference)
        t_naive = time.perf_counter() - start
        same = picks == result.indices.tolist() and np.allclose(distances, result.distances, rtol=1e-6)
        record.update({'fps_naive_s': round(t_naive, 2), 'fps_speedup': round(t_naive / t_fps, 1), 'same_picks': same})
        print(f'FPS per-pair Python   : {t_naive:8.2f} s')
        print(f'FPS speed-up          : {t_naive / t_fps:8.1f} x  (same picks: {same})')
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + '\n')


if __name__ == '__main__':
    main()
