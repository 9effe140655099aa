"""MACE screening of 1 000 structures: batched evaluation vs a per-structure ASE calculator loop.

Uses the project's tiny MACE model (``tests/fixtures/models``; MACE-MP cannot be
downloaded offline) on fcc Al–Mg cells of 16–48 atoms. Prints both wall times, the
ratio (target ≥ 3x) and the largest energy/force difference (must be round-off).
Batch size 1 of the same batched code path is timed too, to separate the gain of
batching from the overhead of the ASE calculator interface. Each timing is the best of
``--repeat`` runs because the machine is shared.

    python benchmarks/screening_batch.py [--structures 1000] [--batch-size 16] [--model PATH] [--chgnet 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / 'tests' / 'fixtures' / 'models' / 'tiny_mace_almgsi.model'


def make_structures(n: int, seed: int = 0) -> list:
    """fcc Al–Mg cells of 16, 32 or 48 atoms, random occupation, rattled and strained."""
    from ase.build import bulk

    from aiida_mlip_autopipe.candidates.bulk import supercell_for_atoms
    from aiida_mlip_autopipe.candidates.distortions import random_strain, rattle

    primitive = bulk('Al', 'fcc', a=4.17)
    bases = [supercell_for_atoms(primitive, size)[0] for size in (16, 32, 48)]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = bases[i % 3].copy()
        atoms.set_chemical_symbols(list(np.where(rng.random(len(atoms)) < 0.25, 'Mg', 'Al')))
        atoms, _ = random_strain(atoms, rng, (-0.03, 0.03), shear=0.02)
        atoms, _ = rattle(atoms, rng, 0.08)
        out.append(atoms)
    return out


def _compare(a, b) -> tuple[float, float]:
    de = max(abs(x.energy - y.energy) for x, y in zip(a, b, strict=True))
    df = max(float(np.abs(x.forces - y.forces).max()) for x, y in zip(a, b, strict=True))
    return de, df


def main() -> None:
    from aiida_mlip_autopipe.screening.backends import CalculatorBackend, ChgnetBackend, MaceBackend

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--structures', type=int, default=1000)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--model', type=Path, default=MODEL)
    parser.add_argument('--chgnet', type=int, default=0, help='also time CHGNet on this many structures')
    parser.add_argument('--repeat', type=int, default=3, help='best of this many runs (the machine is shared)')
    parser.add_argument('--output', type=Path, default=Path(__file__).parent / 'output' / 'screening_batch.json')
    args = parser.parse_args()

    import torch
    from mace.calculators import MACECalculator

    structures = make_structures(args.structures)
    n_atoms = sum(len(a) for a in structures)
    batched = MaceBackend.from_file(args.model, batch_size=args.batch_size)
    single = MaceBackend.from_file(args.model, batch_size=1)
    calculator = CalculatorBackend(MACECalculator(model_paths=str(args.model), device='cpu', default_dtype='float64'))
    for backend in (batched, single, calculator):  # warm-up, not timed
        backend.evaluate(structures[:4])

    timings = {}
    results = {}
    for _ in range(args.repeat):
        for name, backend in (('batched', batched), ('batch_size_1', single), ('ase_calculator_loop', calculator)):
            start = time.perf_counter()
            results[name] = backend.evaluate(structures)
            timings[name] = min(timings.get(name, float('inf')), time.perf_counter() - start)
    de, df = _compare(results['batched'], results['ase_calculator_loop'])
    record = {
        'date': time.strftime('%Y-%m-%d'),
        'machine': f'{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}',
        'model': str(args.model.name),
        'structures': args.structures,
        'atoms': n_atoms,
        'batch_size': args.batch_size,
        'repeat': args.repeat,
        'load_average_1min': round(os.getloadavg()[0], 2),
        **{f'{k}_s': round(v, 2) for k, v in timings.items()},
        'speedup_vs_ase_loop': round(timings['ase_calculator_loop'] / timings['batched'], 2),
        'speedup_vs_batch_size_1': round(timings['batch_size_1'] / timings['batched'], 2),
        'max_energy_difference_eV': de,
        'max_force_difference_eV_per_A': df,
    }
    print(f'{args.structures} structures, {n_atoms} atoms, MACE model {args.model.name}')
    for name, seconds in timings.items():
        print(f'{name:22s}: {seconds:8.2f} s  ({1000 * seconds / args.structures:.1f} ms/structure)')
    print(f'speed-up vs ASE loop  : {record["speedup_vs_ase_loop"]:8.2f} x  (target >= 3x)')
    print(f'speed-up vs batch 1   : {record["speedup_vs_batch_size_1"]:8.2f} x')
    print(f'max |dE| {de:.2e} eV, max |dF| {df:.2e} eV/A')
    if args.chgnet:
        from chgnet.model.dynamics import CHGNetCalculator

        subset = structures[: args.chgnet]
        chgnet = ChgnetBackend(batch_size=args.batch_size)
        loop = CalculatorBackend(CHGNetCalculator(model=chgnet.model, use_device='cpu'))
        chgnet.evaluate(subset[:2])
        loop.evaluate(subset[:2])
        t_batched = t_loop = float('inf')
        for _ in range(args.repeat):
            start = time.perf_counter()
            fast = chgnet.evaluate(subset)
            t_batched = min(t_batched, time.perf_counter() - start)
            start = time.perf_counter()
            slow = loop.evaluate(subset)
            t_loop = min(t_loop, time.perf_counter() - start)
        de, df = _compare(fast, slow)
        record['chgnet'] = {
            'structures': len(subset),
            'batched_s': round(t_batched, 2),
            'ase_calculator_loop_s': round(t_loop, 2),
            'speedup': round(t_loop / t_batched, 2),
            'max_energy_difference_eV': de,
            'max_force_difference_eV_per_A': df,
        }
        print(
            f'CHGNet {len(subset)} structures: batched {t_batched:.2f} s, ASE loop {t_loop:.2f} s, '
            f'{t_loop / t_batched:.2f} x (max |dE| {de:.1e} eV, |dF| {df:.1e} eV/A)'
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + '\n')


if __name__ == '__main__':
    main()
