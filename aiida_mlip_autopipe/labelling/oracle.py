"""An analytic "oracle" labeller for method benchmarks only — not DFT.

Benchmarks of the active-learning loop (how many labels it needs against random
sampling) want dozens of generations in minutes, which pw.x cannot give on a laptop.
An interatomic model shipped with ASE (EMT, for Al, Cu, Ni, Ag, Au, Pd, Pt) stands in
for the DFT code there. The calcfunction returns its result in the *same shape* as a
finished ``PwBaseWorkChain`` (``output_parameters`` with ``energy`` in eV,
``output_trajectory`` with ``forces`` in eV/Å and ``stress`` in GPa with pw.x's sign),
so :func:`~aiida_mlip_autopipe.labelling.training_set.collect_training_set`,
the failure budget and the provenance graph work unchanged.

It is never the default: a run uses it only when ``benchmark.oracle`` is set in the config
(or ``oracle`` is given to ``LabellingWorkChain``). Its labels are not physics.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_mlip_autopipe.common.units import GPA_TO_EV_PER_A3
from aiida_mlip_autopipe.labelling.config import check_oracle

__all__ = ('label_with_oracle', 'oracle_calculator', 'oracle_description')


def oracle_calculator(name: str) -> Any:
    """A fresh ASE calculator for the oracle ``name``."""
    if name == 'emt':
        from ase.calculators.emt import EMT

        return EMT()
    raise ValueError(check_oracle(name, ()))


def oracle_description(name: str) -> str:
    """The calculator behind oracle ``name`` and the ASE version, e.g. ``ase.calculators.emt.EMT (ASE 3.23.0)``."""
    import ase

    calculator = type(oracle_calculator(name))
    return f'{calculator.__module__}.{calculator.__qualname__} (ASE {ase.__version__})'


@calcfunction
def label_with_oracle(structure: orm.StructureData, calculator: orm.Str) -> dict[str, orm.Data] | ExitCode:
    """Label ``structure`` with the ASE oracle named by ``calculator`` (benchmarks only, not DFT).

    Outputs mirror a finished ``PwBaseWorkChain``: ``output_parameters`` (``energy`` in eV,
    ``energy_units``, ``oracle``, ``wall_time_seconds``, and ``label_source`` ``oracle:<name>``
    with ``label_code``, so every frame made from it says it is no DFT) and ``output_trajectory`` (one
    frame; ``forces`` in eV/Å, ``stress`` in GPa, positive under compression as pw.x
    reports it). Exit codes: 201 the oracle cannot label this chemistry, 400 the
    calculator raised, 401 it returned non-finite numbers.
    """
    from ase.stress import voigt_6_to_full_3x3_stress

    name = calculator.value
    atoms = structure.get_ase()
    problem = check_oracle(name, set(atoms.get_chemical_symbols()))
    if problem is not None:
        return ExitCode(201, problem)
    started = time.perf_counter()
    try:
        atoms.calc = oracle_calculator(name)
        with np.errstate(divide='ignore', invalid='ignore', over='ignore'):  # non-finite results are checked below
            energy = float(atoms.get_potential_energy())
            forces = np.asarray(atoms.get_forces(), dtype=float)
            stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
    except Exception as exc:  # any failure of the oracle is a recorded label failure
        return ExitCode(400, f'the oracle raised {type(exc).__name__}: {exc}')
    seconds = time.perf_counter() - started
    if not (np.isfinite(energy) and np.isfinite(forces).all() and np.isfinite(stress).all()):
        return ExitCode(401, 'the oracle returned non-finite energy, forces or stress')
    # ASE: eV/Å³, negative under compression. pw.x (and frame_from_pw_outputs): GPa, positive.
    stress_pw_gpa = -voigt_6_to_full_3x3_stress(stress) / GPA_TO_EV_PER_A3
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=atoms.get_chemical_symbols(),
        positions=np.asarray([atoms.positions]),
        cells=np.asarray([atoms.cell.array]),
        stepids=np.asarray([0]),
        pbc=tuple(bool(p) for p in atoms.pbc),
    )
    trajectory.set_array('forces', np.asarray([forces]))
    trajectory.set_array('stress', np.asarray([stress_pw_gpa]))
    parameters = orm.Dict(
        {
            'energy': energy,
            'energy_units': 'eV',
            'number_of_atoms': len(atoms),
            'oracle': name,
            'wall_time_seconds': seconds,
            'note': 'benchmark oracle, not DFT',
            'label_source': f'oracle:{name}',
            'label_code': oracle_description(name),
            'label_settings': {},
        }
    )
    return {'output_parameters': parameters, 'output_trajectory': trajectory}
