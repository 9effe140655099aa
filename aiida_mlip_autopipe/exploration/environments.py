"""Which cut-out environments become candidates: by decreasing gamma, without near-duplicates, capped.

Near-duplicates are told apart by the SOAP fingerprint of each environment's centres;
their neighbourhoods are exactly those of the frame (see :mod:`~aiida_mlip_autopipe.exploration.extraction`),
so environments from different frames, cut out or whole, compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aiida_mlip_autopipe.exploration.extraction import Environment, ExtractionSettings

__all__ = ('deduplicate', 'fingerprints', 'select_environments')


def fingerprints(environments: Sequence[Environment], r_cut: float) -> None:
    """Set ``fingerprint``: the normalised mean SOAP vector of each environment's centres (dscribe).

    The centres' neighbourhoods within the cut-off are those of the frame (see the module
    docstring), so environments from different frames, cut or whole, compare directly.
    """
    from dscribe.descriptors import SOAP

    species = sorted({s for env in environments for s in env.atoms.get_chemical_symbols()})
    soap = SOAP(species=species, r_cut=float(min(max(r_cut, 2.0), 8.0)), n_max=6, l_max=4, sigma=0.5, periodic=True)
    for env in environments:
        vectors = np.asarray(soap.create(env.atoms, centers=env.centres_in_box), dtype=float)
        vectors = vectors.reshape(len(env.centres_in_box), -1)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        mean = vectors.mean(axis=0)
        env.fingerprint = mean / max(np.linalg.norm(mean), 1e-12)


def deduplicate(
    environments: Sequence[Environment], threshold: float, limit: int | None = None
) -> tuple[list[Environment], list[tuple[Environment, Environment, float]]]:
    """Greedy pick in the given order, skipping environments within ``threshold`` of a picked one.

    Distance between normalised fingerprints ``a``, ``b`` is ``|a - b|`` (0 for identical
    environments, √2 for orthogonal ones). Returns the kept environments and, for each
    duplicate, ``(duplicate, the kept one it matched, distance)``.
    """
    kept: list[Environment] = []
    duplicates: list[tuple[Environment, Environment, float]] = []
    for env in environments:
        if limit is not None and len(kept) >= limit:
            break
        if env.fingerprint is None:
            raise ValueError('fingerprints() must run before deduplicate()')
        if kept:
            distances = [float(np.linalg.norm(env.fingerprint - k.fingerprint)) for k in kept]
            closest = int(np.argmin(distances))
            if distances[closest] < threshold:
                duplicates.append((env, kept[closest], distances[closest]))
                continue
        kept.append(env)
    return kept, duplicates


def select_environments(
    environments: Sequence[Environment], settings: ExtractionSettings, seed: int
) -> tuple[list[Environment], list[dict[str, Any]]]:
    """Order by decreasing gamma (ties broken by ``seed``), drop near-duplicates, cap the count.

    Deterministic for a given ``seed``: the only use of randomness is the order of
    environments whose gamma is exactly equal.
    """
    if not environments:
        return [], []
    rng = np.random.default_rng(seed)
    tie = rng.permutation(len(environments))
    order = sorted(range(len(environments)), key=lambda k: (-environments[k].max_gamma, tie[k]))
    ordered = [environments[k] for k in order]
    fingerprints(ordered, settings.core_radius)
    kept, duplicates = deduplicate(ordered, settings.duplicate_threshold)
    capped = kept[: settings.max_environments]
    report = [
        {
            'source': dup.source,
            'frame': dup.frame_index,
            'centres': dup.centre_indices,
            'decision': f'near-duplicate of {match.source} frame {match.frame_index} (distance {dist:.4f})',
        }
        for dup, match, dist in duplicates
    ]
    report += [
        {
            'source': env.source,
            'frame': env.frame_index,
            'centres': env.centre_indices,
            'decision': f'over max_environments ({settings.max_environments})',
        }
        for env in kept[settings.max_environments :]
    ]
    return capped, report
