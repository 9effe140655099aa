"""Short-range repulsion: where ACE hands over to the ZBL screened nuclear repulsion, per element pair.

ACE has no physics at distances shorter than its training data. Pacemaker's
``repulsion: auto`` puts the hand-over at the shortest *training* distance with a 0.1 Å
switch, so the very next MD configuration that comes closer lands in the switching
region and sees force errors of 50–70 eV/Å. Here the inner cutoff is chosen from the
chemistry (a fraction of the covalent bond length, or a value the user gives) and only
ever lowered, never raised, by the data: every labelled configuration is fitted by ACE
alone, configurations slightly shorter than the data are ACE extrapolations (smooth,
and flagged by the extrapolation grade), and below ``r_in`` the core takes over over a
switching width of a quarter of ``r_in``.

Below ``r_in - delta_in`` the pair energy is the Ziegler–Biersack–Littmark potential
(pacemaker's ``inner_cutoff_type: zbl``, parameter free: ``core-repulsion: [1, 1]``
leaves it unscaled); between ``r_in - delta_in`` and ``r_in`` the pair's ACE radial
functions are switched off and ZBL on. The fit itself never sees the core (no training
distance lies below ``r_in``), so it is unchanged by this choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import TYPE_CHECKING, Any

from .statistics import pair_key

if TYPE_CHECKING:
    from aiida_mlip_autopipe.training.config import RepulsionConfig

__all__ = (
    'ZBL_CORE_REPULSION',
    'PairRepulsion',
    'apply_repulsion_to_potential',
    'pacemaker_pair_name',
    'repulsion_for_pairs',
)

#: Pacemaker's ``core-repulsion`` prefactors for ``inner_cutoff_type: zbl``: (1, 1) is the
#: bare ZBL potential (any other value scales it).
ZBL_CORE_REPULSION = [1.0, 1.0]
#: Default width of the switching region as a fraction of the inner cutoff.
DEFAULT_DELTA_FRACTION = 0.25


@dataclass(frozen=True)
class PairRepulsion:
    """Inner cutoff ``r_in`` and switching width ``delta`` (Å) of one element pair, and why."""

    pair: str
    inner_cutoff: float
    delta: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {'inner_cutoff': self.inner_cutoff, 'delta': self.delta, 'reason': self.reason}


def pacemaker_pair_name(pair: str) -> str:
    """Pacemaker's bond key for a ``pair_key``: ``'Ge-Si'`` -> ``'GeSi'``."""
    return pair.replace('-', '')


def repulsion_for_pairs(
    config: RepulsionConfig, elements: Sequence[str], min_distance: Mapping[str, float]
) -> dict[str, PairRepulsion]:
    """Inner cutoff and switching width for every pair of ``elements``.

    Order of precedence: the value given in ``config.inner_cutoff`` for the pair, else
    ``config.covalent_fraction`` × (sum of covalent radii); then lowered to at most
    ``config.max_data_fraction`` × the shortest distance of that pair in the data
    (``min_distance``, from :func:`~aiida_mlip_autopipe.training.statistics.dataset_statistics`).
    """
    from ase.data import atomic_numbers, covalent_radii

    pairs: dict[str, PairRepulsion] = {}
    for first, second in combinations_with_replacement(sorted(elements), 2):
        key = pair_key(first, second)
        given = config.inner_cutoff_for(first, second)
        if given is not None:
            r_in, reason = given, 'configured'
        else:
            bond = covalent_radii[atomic_numbers[first]] + covalent_radii[atomic_numbers[second]]
            r_in = config.covalent_fraction * bond
            reason = f'{config.covalent_fraction:g} x covalent bond length {bond:.3f} A'
        shortest = min_distance.get(key)
        if shortest is not None and r_in > config.max_data_fraction * shortest:
            r_in = config.max_data_fraction * shortest
            reason = (
                f'lowered to {config.max_data_fraction:g} x the shortest {key} distance in the training data '
                f'({shortest:.3f} A)'
            )
        delta = config.delta if config.delta is not None else DEFAULT_DELTA_FRACTION * r_in
        if delta >= r_in:
            delta = 0.5 * r_in
            reason += f'; delta reduced to half the inner cutoff ({delta:.3f} A)'
        pairs[key] = PairRepulsion(key, round(float(r_in), 4), round(float(delta), 4), reason)
    return pairs


def bond_repulsion_entry(repulsion: PairRepulsion) -> dict[str, Any]:
    """The keys of a pacemaker ``bonds`` entry that set the inner cutoff and core repulsion."""
    return {
        'r_in': repulsion.inner_cutoff,
        'delta_in': repulsion.delta,
        'inner_cutoff_type': 'zbl',
        'core-repulsion': list(ZBL_CORE_REPULSION),
    }


def apply_repulsion_to_potential(potential: dict[str, Any], pairs: Mapping[str, PairRepulsion]) -> list[str]:
    """Set the inner cutoffs of a pacemaker B-basis potential (parsed YAML) in place; return what changed.

    Used on warm starts: the previous potential keeps its coefficients (the inner
    region holds no training data, so the fit is unchanged) but gets the repulsion the
    current data and settings ask for.
    """
    changes = []
    for block in potential.get('species', []):
        names = str(block.get('speciesblock', '')).split()
        if len(names) not in (1, 2):
            continue
        key = pair_key(names[0], names[-1])
        if key not in pairs:
            continue
        wanted = bond_repulsion_entry(pairs[key])
        before = {k: block.get(k) for k in wanted}
        block.update(wanted)
        if before != wanted:
            changes.append(
                f'{key}: r_in {before["r_in"]} -> {wanted["r_in"]}, delta_in {before["delta_in"]} -> '
                f'{wanted["delta_in"]}, type {before["inner_cutoff_type"]} -> zbl'
            )
    return changes
