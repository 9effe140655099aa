"""Pre-screening of candidates with a universal (or small local) potential before any DFT is spent.

A candidate is rejected when

1. two atoms are closer than ``min_distance_factor`` × the sum of their covalent
   radii (overlapping atoms; decided geometrically, before the model runs),
2. the model returns non-finite energy or forces,
3. its largest atomic force exceeds ``max_force`` (eV/Å), or
4. its energy per atom lies more than ``energy_window`` (eV/atom) from the trend of
   the candidates that passed the force check, after per-element reference energies
   are fitted to them (see :func:`energy_deviations`): blow-ups above, model holes below;
5. its energy per atom lies more than ``energy_above_phase`` (eV/atom) above the target
   phase: per-element energies fitted to the model's energies of the unperturbed base
   structures (:func:`phase_energies`). A pool made mostly of high-energy cells would pull
   the trend of rule 4 up with it; the phase does not move. A 1-atom cell of fcc-like Si cut
   from diamond lies 1.2 eV/atom above diamond: not a configuration a diamond potential
   needs, and a label that dominated the fit's energy error.

Every candidate gets a :class:`Verdict` with the number that decided it, so a report
can say *why* a structure was dropped. The models are evaluated through the batched
backends of :mod:`aiida_mlip_autopipe.screening.backends`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

    from aiida_mlip_autopipe.screening.backends import ScreeningBackend

__all__ = ('Verdict', 'energy_deviations', 'min_distance_ratio', 'phase_energies', 'screen')

#: Reasons a verdict can give.
REASON_KEPT = 'ok'
REASON_OVERLAP = 'overlapping_atoms'
REASON_NON_FINITE = 'non_finite'
REASON_MAX_FORCE = 'max_force'
REASON_ENERGY = 'energy_outlier'
REASON_ABOVE_PHASE = 'above_phase'
REASON_NOT_SCREENED = 'not_screened'


@dataclass
class Verdict:
    """Kept or rejected, and the number that decided it."""

    kept: bool
    reason: str
    #: The deciding number: the distance ratio, max |F| (eV/Å) or |ΔE/atom| from the median (eV/atom).
    value: float | None = None
    #: The threshold ``value`` was compared with.
    threshold: float | None = None
    energy_per_atom: float | None = None
    max_force: float | None = None
    #: Shortest distance divided by the sum of covalent radii of that pair.
    min_distance_ratio: float | None = None
    #: Distance (eV/atom) from the composition trend of the candidates that passed the force check.
    energy_deviation: float | None = None
    #: Energy (eV/atom) above the target phase (per-element energies of the base structures).
    energy_above_phase: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible (``None`` for values not computed, never NaN)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def min_distance_ratio(atoms: Atoms) -> float:
    """Smallest ``d_ij / (r_i + r_j)`` over atom pairs (covalent radii, periodic images included).

    Returns ``inf`` when no pair is within 1.5 × the radii sum (nothing to worry about).
    """
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0:
        return math.inf
    radii = covalent_radii[atoms.numbers]
    cutoff = 1.5 * 2 * float(radii.max())
    i, j, d = neighbor_list('ijd', atoms, cutoff, self_interaction=False)
    if len(d) == 0:
        return math.inf
    return float((d / (radii[i] + radii[j])).min())


def energy_deviations(structures: Sequence[Atoms], energies: Sequence[float], window: float) -> np.ndarray:
    """Per-atom distance (eV/atom) of each energy from the pool's composition trend.

    Total energies per atom differ by eV between compositions (different elements,
    vacancies, interstitials), so a plain median of E/atom would flag every off-
    stoichiometry cell. Instead per-element reference energies are fitted by least
    squares (``E ≈ Σ n_s μ_s``) and the residual per atom is compared with the median
    residual; structures beyond ``window`` are excluded and the fit repeated (at most
    three times) so blow-ups do not drag the reference.
    """
    species = sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})
    counts = _counts(structures, species)
    energies = np.asarray(energies, dtype=float)
    n_atoms = counts.sum(axis=1)
    mask = np.ones(len(energies), dtype=bool)
    deviation = np.zeros(len(energies))
    for _ in range(3):
        mu, *_ = np.linalg.lstsq(counts[mask], energies[mask], rcond=None)
        residual = (energies - counts @ mu) / n_atoms
        deviation = np.abs(residual - np.median(residual[mask]))
        new_mask = deviation <= window
        if new_mask.sum() <= len(species) or np.array_equal(new_mask, mask):
            break
        mask = new_mask
    return deviation


def _counts(structures: Sequence[Atoms], species: Sequence[str]) -> np.ndarray:
    return np.array([[atoms.get_chemical_symbols().count(s) for s in species] for atoms in structures], dtype=float)


def phase_energies(references: Sequence[Atoms], energies: Sequence[float]) -> dict[str, float]:
    """Per-element energies (eV) that reproduce the model's energies of the target phase (least squares)."""
    species = sorted({s for atoms in references for s in atoms.get_chemical_symbols()})
    mu, *_ = np.linalg.lstsq(_counts(references, species), np.asarray(energies, dtype=float), rcond=None)
    return {s: float(m) for s, m in zip(species, mu, strict=True)}


def energy_above(atoms: Atoms, energy: float, mu: dict[str, float]) -> float | None:
    """Energy per atom above the phase, or None when ``atoms`` holds an element the phase lacks."""
    symbols = atoms.get_chemical_symbols()
    if not set(symbols) <= set(mu):
        return None
    return (energy - sum(mu[s] for s in symbols)) / len(symbols)


def screen(
    structures: Sequence[Atoms],
    backend: ScreeningBackend | None,
    max_force: float = 15.0,
    energy_window: float = 2.0,
    min_distance_factor: float = 0.5,
    energy_above_phase: float | None = None,
    references: Sequence[Atoms] = (),
) -> list[Verdict]:
    """One :class:`Verdict` per structure, in order (see the module docstring for the rules).

    ``references``: the unperturbed base structures (the target phase) for rule 5; without them,
    or with ``energy_above_phase`` None, rule 5 is off.
    """
    verdicts: list[Verdict | None] = [None] * len(structures)
    ratios = [min_distance_ratio(atoms) for atoms in structures]
    to_evaluate = []
    for index, ratio in enumerate(ratios):
        if min_distance_factor > 0 and ratio < min_distance_factor:
            verdicts[index] = Verdict(False, REASON_OVERLAP, ratio, min_distance_factor, min_distance_ratio=ratio)
        else:
            to_evaluate.append(index)
    if backend is None:
        for index in to_evaluate:
            verdicts[index] = Verdict(True, REASON_NOT_SCREENED, min_distance_ratio=ratios[index])
        return [v for v in verdicts if v is not None]

    mu = None
    if energy_above_phase is not None and references:
        phase = backend.evaluate(list(references))
        mu = phase_energies(list(references), [e.energy for e in phase])
    evaluations = backend.evaluate([structures[i] for i in to_evaluate])
    passed_forces: list[tuple[int, float, float]] = []
    for index, evaluation in zip(to_evaluate, evaluations, strict=True):
        n_atoms = len(structures[index])
        energy_per_atom = evaluation.energy / n_atoms
        forces = np.asarray(evaluation.forces, dtype=float)
        finite = math.isfinite(energy_per_atom) and bool(np.all(np.isfinite(forces)))
        force = float(np.linalg.norm(forces, axis=1).max()) if finite and n_atoms else math.nan
        common = {'energy_per_atom': energy_per_atom, 'max_force': force, 'min_distance_ratio': ratios[index]}
        if not finite:
            verdicts[index] = Verdict(False, REASON_NON_FINITE, **common)
        elif force > max_force:
            verdicts[index] = Verdict(False, REASON_MAX_FORCE, force, max_force, **common)
        else:
            passed_forces.append((index, energy_per_atom, force))
    if passed_forces:
        indices = [index for index, _, _ in passed_forces]
        deviations = energy_deviations(
            [structures[i] for i in indices], [e * len(structures[i]) for i, e, _ in passed_forces], energy_window
        )
        for (index, energy_per_atom, force), deviation in zip(passed_forces, deviations, strict=True):
            common = {
                'energy_per_atom': energy_per_atom,
                'max_force': force,
                'min_distance_ratio': ratios[index],
                'energy_deviation': float(deviation),
            }
            above = energy_above(structures[index], energy_per_atom * len(structures[index]), mu) if mu else None
            common['energy_above_phase'] = above
            if deviation > energy_window:
                verdicts[index] = Verdict(False, REASON_ENERGY, float(deviation), energy_window, **common)
            elif above is not None and above > energy_above_phase:
                verdicts[index] = Verdict(False, REASON_ABOVE_PHASE, float(above), energy_above_phase, **common)
            else:
                verdicts[index] = Verdict(True, REASON_KEPT, force, max_force, **common)
    return [v for v in verdicts if v is not None]
