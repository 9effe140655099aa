"""Special quasirandom structures (SQS) for alloys, with icet.

icet's ``generate_sqs`` enumerates every supercell up to a size, which takes minutes
(291 s for a 32-atom fcc search on this machine); the candidate pool wants a given,
near-cubic cell instead, so :func:`generate_sqs` anneals the occupation of that one
fixed supercell with ``generate_sqs_from_supercells`` (seconds). How close the result
is to the random alloy is reported as the mismatch of its cluster vector against the
cluster vector of the infinite random alloy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('SQSResult', 'correlation_mismatch', 'generate_sqs', 'integer_counts', 'random_occupation')


@dataclass
class SQSResult:
    """An SQS and how well its correlations match the random alloy."""

    atoms: Atoms
    counts: dict[str, int]
    #: icet's annealing objective (sum of |Δ correlation| minus the radius of the longest
    #: perfectly matched pair, van de Walle et al. 2013); lower is better, may be negative.
    objective: float
    #: Sum of |Δ correlation| over all clusters beyond singlets (no optimality bonus).
    correlation_mismatch: float
    #: Largest |Δ correlation| of a single cluster.
    max_correlation_error: float
    n_steps: int
    cutoffs: list[float]
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-compatible description for the metadata output."""
        return {
            'n_atoms': len(self.atoms),
            'counts': dict(self.counts),
            'objective': float(self.objective),
            'correlation_mismatch': float(self.correlation_mismatch),
            'max_correlation_error': float(self.max_correlation_error),
            'n_steps': int(self.n_steps),
            'cutoffs': [float(c) for c in self.cutoffs],
            **self.details,
        }


@contextlib.contextmanager
def _quiet_icet() -> Iterator[None]:
    """Icet and mchammer log every annealing stage at INFO; keep the daemon log readable."""
    loggers = [logging.getLogger(name) for name in ('icet', 'mchammer')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def integer_counts(n_sites: int, composition: Mapping[str, float]) -> dict[str, int]:
    """Atoms per species on ``n_sites`` closest to ``composition`` (largest-remainder rounding).

    Every species with a non-zero fraction keeps at least one atom when there are
    enough sites, so a dilute alloy is not silently turned into a pure element.
    """
    species = list(composition)
    fractions = np.array([composition[s] for s in species], dtype=float)
    if np.any(fractions < 0) or fractions.sum() <= 0:
        raise ValueError(f'invalid composition {dict(composition)}')
    fractions = fractions / fractions.sum()
    exact = fractions * n_sites
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind='stable')
    for i in order[: n_sites - counts.sum()]:
        counts[i] += 1
    if n_sites >= len(species):
        for i in np.flatnonzero((counts == 0) & (fractions > 0)):
            # The atom comes from the species that has the most above its exact share (and can spare one).
            surplus = np.where(counts > 1, counts - exact, -np.inf)
            donor = int(np.argmax(surplus))
            counts[donor] -= 1
            counts[i] += 1
    return {s: int(c) for s, c in zip(species, counts, strict=True)}


def _cluster_space(primitive: Atoms, species: Sequence[str], cutoffs: Sequence[float]) -> Any:
    from icet import ClusterSpace

    return ClusterSpace(primitive, list(cutoffs), [list(species)] * len(primitive))


def correlation_mismatch(cluster_space: Any, atoms: Atoms, concentrations: Mapping[str, float]) -> dict[str, float]:
    """How far the correlations of ``atoms`` are from those of the infinite random alloy.

    Returns icet's annealing ``objective`` and the plain ``correlation_mismatch`` (sum of
    absolute differences over pairs, triplets, ...) and ``max_correlation_error``.
    """
    from icet.tools.structure_generation import _get_sqs_cluster_vector, compare_cluster_vectors

    target = _get_sqs_cluster_vector(cluster_space, dict(concentrations))
    actual = cluster_space.get_cluster_vector(atoms)
    orbits = cluster_space.as_list
    # Zerolet and singlets are fixed by the composition; the rest measure randomness.
    beyond_singlets = np.array([orbit['order'] >= 2 for orbit in orbits])
    diff = np.abs(actual - target)[beyond_singlets]
    return {
        'objective': float(compare_cluster_vectors(actual, target, orbits)),
        'correlation_mismatch': float(diff.sum()),
        'max_correlation_error': float(diff.max()) if diff.size else 0.0,
    }


def random_occupation(supercell: Atoms, counts: Mapping[str, int], rng: np.random.Generator) -> Atoms:
    """``supercell`` with its sites randomly occupied by exactly ``counts`` atoms per species."""
    symbols = np.repeat(list(counts), list(counts.values()))
    if len(symbols) != len(supercell):
        raise ValueError(f'counts {dict(counts)} do not add up to {len(supercell)} sites')
    atoms = supercell.copy()
    atoms.set_chemical_symbols(list(rng.permutation(symbols)))
    return atoms


def generate_sqs(
    primitive: Atoms,
    supercell: Atoms,
    species: Sequence[str],
    composition: Mapping[str, float],
    cutoffs: Sequence[float] = (6.0, 4.5),
    n_steps: int = 10_000,
    seed: int = 0,
) -> SQSResult:
    """Anneal the occupation of ``supercell`` (a supercell of ``primitive``) towards the random alloy.

    :param species: the elements sharing the lattice (every site of ``primitive``).
    :param composition: target fractions; rounded to whole atoms of this supercell.
    :param cutoffs: cluster-space cutoffs in Å (pairs, triplets, ...).
    """
    from icet.tools.structure_generation import generate_sqs_from_supercells

    species = list(species)
    if len(species) < 2:
        raise ValueError(f'an SQS needs at least two species, got {species}')
    counts = integer_counts(len(supercell), {s: composition.get(s, 0.0) for s in species})
    present = {s: c for s, c in counts.items() if c > 0}
    concentrations = {s: c / len(supercell) for s, c in counts.items()}
    requested = {s: float(composition.get(s, 0.0)) for s in species}
    with _quiet_icet():
        cluster_space = _cluster_space(primitive, species, cutoffs)
        if len(present) < 2:
            # Too few sites for two species: nothing to anneal, report it as it is.
            atoms = random_occupation(supercell, counts, np.random.default_rng(seed))
        else:
            # icet wants the supercell occupied by allowed species; the seed drives
            # both the random start and the Monte Carlo.
            start = random_occupation(supercell, counts, np.random.default_rng(seed))
            atoms = generate_sqs_from_supercells(
                cluster_space,
                supercells=[start],
                target_concentrations=concentrations,
                n_steps=n_steps,
                random_seed=int(seed) % (2**31),
            )
        mismatch = correlation_mismatch(cluster_space, atoms, concentrations)
    atoms.pbc = True
    return SQSResult(
        atoms=atoms,
        counts=counts,
        objective=mismatch['objective'],
        correlation_mismatch=mismatch['correlation_mismatch'],
        max_correlation_error=mismatch['max_correlation_error'],
        n_steps=int(n_steps),
        cutoffs=[float(c) for c in cutoffs],
        details={
            'requested_composition': requested,
            'composition': {s: c / len(supercell) for s, c in counts.items()},
            'n_clusters': len(cluster_space),
        },
    )
