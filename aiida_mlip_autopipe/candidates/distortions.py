"""Homogeneous strain and Gaussian rattling: the cheapest way to sample elastic and thermal distortions.

Each function takes an explicit ``numpy.random.Generator`` so the caller decides the
random stream (one per candidate, derived from the run seed), and returns a new
``Atoms`` plus a JSON-compatible record of what was done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('apply_strain', 'random_strain', 'rattle', 'strain_tensor')


def strain_tensor(linear: float, shear: np.ndarray | None = None) -> np.ndarray:
    """Symmetric small-strain tensor: ``linear`` on the diagonal, ``shear`` = (yz, xz, xy) off it."""
    eps = np.eye(3) * float(linear)
    if shear is not None:
        yz, xz, xy = (float(x) for x in shear)
        eps[1, 2] = eps[2, 1] = yz
        eps[0, 2] = eps[2, 0] = xz
        eps[0, 1] = eps[1, 0] = xy
    return eps


def apply_strain(atoms: Atoms, eps: np.ndarray) -> Atoms:
    """``atoms`` deformed by the symmetric strain ``eps`` (cell and positions scale together)."""
    eps = np.asarray(eps, dtype=float)
    if eps.shape != (3, 3) or not np.allclose(eps, eps.T):
        raise ValueError('the strain must be a symmetric 3x3 tensor')
    deformation = np.eye(3) + eps
    if np.linalg.det(deformation) <= 0.05:
        raise ValueError(f'strain {eps.tolist()} collapses the cell')
    strained = atoms.copy()
    # Row vectors: new_cell = cell @ F^T (F symmetric here).
    strained.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
    return strained


def random_strain(
    atoms: Atoms, rng: np.random.Generator, volumetric: tuple[float, float] = (-0.05, 0.05), shear: float = 0.0
) -> tuple[Atoms, dict[str, Any]]:
    """Volumetric (isotropic linear) strain drawn uniformly from ``volumetric`` plus random shear.

    Each shear component is uniform in ``[-shear, shear]``. Returns the strained
    structure and ``{'linear': ..., 'shear': [yz, xz, xy], 'volume_ratio': ...}``.
    """
    lo, hi = volumetric
    linear = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    shear_components = rng.uniform(-shear, shear, size=3) if shear > 0 else np.zeros(3)
    eps = strain_tensor(linear, shear_components)
    strained = apply_strain(atoms, eps)
    return strained, {
        'linear': linear,
        'shear': [float(x) for x in shear_components],
        'volume_ratio': float(strained.get_volume() / atoms.get_volume()),
    }


def rattle(atoms: Atoms, rng: np.random.Generator, stdev: float) -> tuple[Atoms, dict[str, Any]]:
    """Every atom displaced by an isotropic Gaussian of standard deviation ``stdev`` (Å) per Cartesian axis.

    The mean displacement is removed so the structure is not simply translated (a
    translation carries no new information for the potential).
    """
    if stdev <= 0:
        raise ValueError(f'stdev must be positive, got {stdev}')
    displacements = rng.normal(0.0, stdev, size=(len(atoms), 3))
    if len(atoms) > 1:
        displacements -= displacements.mean(axis=0)
    rattled = atoms.copy()
    rattled.positions = atoms.positions + displacements
    rattled.wrap()
    norms = np.linalg.norm(displacements, axis=1)
    return rattled, {
        'stdev': float(stdev),
        'max_displacement': float(norms.max()),
        'rms_displacement': float(np.sqrt((norms**2).mean())),
    }
