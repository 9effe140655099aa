"""Build the candidate pool from the config: base structures, then each operation in the given order.

The pool starts with one base structure per target supercell size (a prototype
supercell, a user structure, or for alloys ``sqs.n_structures`` SQS), one slab per
``target.surfaces`` entry and the molecule and its clusters of ``target.molecule``; every
operation of ``generator.operations`` maps the pool to a larger pool: ``copies``
new structures from each member it applies to (:data:`~.operations.APPLIES_TO`: strain is in-plane on
slabs, stretch and rotate are for molecules, adatoms for slabs, interstitials for bulk),
plus the members themselves when ``keep_input``. Each kind (bulk, surface, molecule) grows
its own pool; ``target.shares`` then sets how many of each the capped pool keeps.

Randomness is drawn from one generator per (operation, parent, copy), seeded from the
run seed and those indices, so the same config and seed give the same structures and
appending an operation does not change the candidates made before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiida_mlip_autopipe.candidates import bulk as _bulk
from aiida_mlip_autopipe.candidates.operations import APPLIES_TO, apply_operation
from aiida_mlip_autopipe.candidates.sqs import generate_sqs
from aiida_mlip_autopipe.candidates.structure_file import read_structure_file

if TYPE_CHECKING:
    from ase import Atoms

    from aiida_mlip_autopipe.candidates.config import GeneratorConfig, TargetSystem
    from aiida_mlip_autopipe.config import MLIPConfig

__all__ = ('Candidate', 'CandidatePool', 'base_structures', 'build_candidates')

#: Extra key of the random streams of each kind (bulk keeps the streams it always had).
_KIND_KEYS = {'bulk': (), 'surface': (1,), 'molecule': (2,)}


@dataclass
class Candidate:
    """One structure of the pool and where it came from."""

    atoms: Atoms
    name: str
    #: What made it: 'bulk', 'sqs', 'structure_file', or the operation kind.
    origin: str
    #: Index of the pool member it was made from (None for base structures).
    parent: int | None = None
    #: Origins from the base structure to this one, e.g. ['sqs', 'strain', 'rattle'].
    history: list[str] = field(default_factory=list)
    #: JSON-compatible record of the operation (strain tensor, removed atoms, ...).
    details: dict[str, Any] = field(default_factory=dict)
    #: 'bulk', 'surface' or 'molecule' (see :mod:`~aiida_mlip_autopipe.candidates.kinds`).
    kind: str = 'bulk'


@dataclass
class CandidatePool:
    """The candidates and what happened while building them."""

    candidates: list[Candidate]
    sqs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: int = 0
    base: dict[str, Any] = field(default_factory=dict)


def _seed_for(seed: int, *keys: int) -> int:
    """An integer seed for libraries that want one (icet), derived from the run seed and ``keys``."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, keys)])


def _sublattice_species(target: TargetSystem, primitive: Atoms) -> list[str] | None:
    """The species sharing the lattice when the base structure is to become an alloy, else None."""
    present = set(primitive.get_chemical_symbols())
    lattice = target.lattice_elements
    if len(lattice) > 1 and len(present) == 1:
        return list(lattice)
    return None


def base_structures(
    target: TargetSystem,
    generator: GeneratorConfig,
    seed: int,
    structure: Atoms | None = None,
) -> tuple[list[Candidate], list[dict[str, Any]], dict[str, Any]]:
    """One base structure per ``target.supercell_atoms`` entry (``sqs.n_structures`` of them for alloys).

    :param structure: the base cell to use instead of ``target.prototype`` or
        ``target.structure_file`` (what the calcfunction passes when a structure node is given).
    :returns: the candidates, the SQS summaries, and a description of the base cell.
    """
    if structure is not None:
        primitive, origin = structure.copy(), 'structure_file'
        described: dict[str, Any] = {'source': 'input structure'}
    elif target.structure_file is not None:
        path = Path(target.structure_file)
        primitive, origin = read_structure_file(path), 'structure_file'
        described = {'source': str(path), 'sha256': hashlib.sha256(path.read_bytes()).hexdigest()}
    else:
        assert target.prototype is not None
        primitive = _bulk.build_primitive(
            target.prototype,
            target.lattice_elements,
            target.lattice_constant,
            target.c_over_a,
            target.lattice_composition,
        )
        origin = 'bulk'
        described = {'source': f'prototype {target.prototype}', 'lattice_constant': _lattice_a(primitive, target)}
    primitive.calc = None
    unknown = sorted(set(primitive.get_chemical_symbols()) - set(target.elements))
    if unknown:
        raise ValueError(f'the base structure contains {unknown}, which are not in target.elements {target.elements}')
    species = _sublattice_species(target, primitive)
    described.update({'n_atoms_primitive': len(primitive), 'alloy_species': species})
    candidates: list[Candidate] = []
    summaries: list[dict[str, Any]] = []
    for size_index, n_atoms in enumerate(target.supercell_atoms):
        supercell, matrix = _bulk.supercell_for_atoms(primitive, n_atoms)
        common = {'target_atoms': int(n_atoms), 'supercell_matrix': matrix.tolist()}
        if species is None:
            candidates.append(Candidate(supercell, f'{origin}-{len(supercell)}', origin, None, [origin], dict(common)))
            continue
        for k in range(generator.sqs.n_structures):
            result = generate_sqs(
                primitive,
                supercell,
                species,
                target.lattice_composition,
                cutoffs=generator.sqs.cutoffs,
                n_steps=generator.sqs.n_steps,
                seed=_seed_for(seed, 0, size_index, k),
            )
            summary = {'name': f'sqs-{len(supercell)}-{k}', **result.summary()}
            summaries.append(summary)
            candidates.append(
                Candidate(
                    result.atoms,
                    summary['name'],
                    'sqs',
                    None,
                    ['sqs'],
                    {**common, 'objective': summary['objective'], 'counts': summary['counts']},
                )
            )
    return candidates, summaries, described


def _lattice_a(primitive: Atoms, target: TargetSystem) -> float | None:
    if target.lattice_constant is not None:
        return float(target.lattice_constant)
    if target.prototype in _bulk.ONE_SUBLATTICE_PROTOTYPES:
        return _bulk.default_lattice_constant(
            target.prototype, target.lattice_elements, target.lattice_composition, target.c_over_a
        )
    return None  # pragma: no cover - compounds need lattice_constant (config validation)


def _cap(pool: list[Candidate], n_base: int, limit: int, seed: int) -> tuple[list[Candidate], int]:
    """At most ``limit`` candidates: base structures first, a seeded random subset of the rest.

    Parents of dropped members are remapped to their nearest kept ancestor so lineage
    stays valid.
    """
    if len(pool) <= limit:
        return pool, 0
    rng = _rng(seed, 999_999)
    base = list(range(min(n_base, limit)))
    rest = np.arange(n_base, len(pool))
    chosen = sorted(base + [int(i) for i in rng.choice(rest, size=max(0, limit - len(base)), replace=False)])
    new_index = {old: new for new, old in enumerate(chosen)}
    kept = []
    for old in chosen:
        candidate = pool[old]
        parent = candidate.parent
        while parent is not None and parent not in new_index:
            parent = pool[parent].parent
        candidate.parent = None if parent is None else new_index[parent]
        kept.append(candidate)
    return kept, len(pool) - len(kept)


def _grow(
    pool: list[Candidate],
    n_base: int,
    operations: list[Any],
    seed: int,
    elements: list[str],
    system: str,
    contact_distance: float = 2.0,
) -> tuple[list[Candidate], int, list[str]]:
    """Apply ``operations`` in order to the pool of one kind; returns the pool, its base count and warnings."""
    warnings: list[str] = []
    for op_index, operation in enumerate(operations, start=1):
        if system not in APPLIES_TO.get(operation.kind, ()):
            continue
        new_pool: list[Candidate] = []
        index_map: dict[int, int] = {}
        errors: list[str] = []
        made = 0
        for parent_index, parent in enumerate(pool):
            if operation.keep_input:
                index_map[parent_index] = len(new_pool)
                parent_copy = Candidate(
                    parent.atoms, parent.name, parent.origin, parent.parent, parent.history, parent.details, parent.kind
                )
                new_pool.append(parent_copy)
        # Parents' new positions are known; now append the children in a stable order.
        children: list[Candidate] = []
        for parent_index, parent in enumerate(pool):
            for copy in range(operation.copies):
                rng = _rng(seed, op_index, parent_index, copy, *_KIND_KEYS[system])
                try:
                    atoms, details = apply_operation(
                        operation, parent.atoms, rng, list(elements), system, contact_distance
                    )
                except ValueError as exc:
                    errors.append(f'{parent.name}: {exc}')
                    continue
                made += 1
                children.append(
                    Candidate(
                        atoms,
                        f'{parent.name}/{operation.kind}-{copy}',
                        operation.kind,
                        parent_index,  # remapped below
                        [*parent.history, operation.kind],
                        details,
                        system,
                    )
                )
        if made == 0 and errors:
            raise ValueError(f'operation {op_index} ({operation.kind}) failed on every structure: {errors[0]}')
        if errors:
            warnings.append(f'operation {op_index} ({operation.kind}) skipped {len(errors)} structure(s): {errors[0]}')
        # Members kept from the previous pool keep their parents (already remapped indices
        # into the previous pool, which maps to new positions only if kept).
        for member in new_pool:
            member.parent = _remap(member.parent, index_map, pool)
        for child in children:
            if operation.keep_input:
                child.parent = index_map[child.parent]  # type: ignore[index]
            else:
                child.parent = None
                child.details = {**child.details, 'parent_dropped': True}
            new_pool.append(child)
        if not operation.keep_input:
            n_base = 0
        pool = new_pool
    return pool, n_base, warnings


def _quotas(available: dict[str, int], shares: dict[str, float] | None, limit: int) -> dict[str, int]:
    """Candidates kept per kind: ``shares`` of the largest pool the kinds can fill, at most ``limit``.

    Without shares each kind keeps its proportion of the pool (the cap as for bulk alone).
    Largest-remainder rounding makes the quotas sum to the pool size.
    """
    if shares is None:
        total = sum(available.values())
        shares = {kind: count / total for kind, count in available.items()} if total else {}
    wanted = {kind: shares.get(kind, 0.0) for kind in available if shares.get(kind, 0.0) > 0}
    if not wanted:
        return dict.fromkeys(available, 0)
    size = min(limit, *(int(np.floor(available[k] / s + 1e-9)) for k, s in wanted.items()))
    exact = {k: s * size for k, s in wanted.items()}
    quotas = {k: min(available[k], int(np.floor(v + 1e-9))) for k, v in exact.items()}
    for kind in sorted(wanted, key=lambda k: -(exact[k] - quotas[k])):
        if sum(quotas.values()) >= size:
            break
        if quotas[kind] < available[kind]:
            quotas[kind] += 1
    return {kind: quotas.get(kind, 0) for kind in available}


def build_candidates(config: MLIPConfig, seed: int, structure: Atoms | None = None) -> CandidatePool:
    """The whole candidate pool of ``config`` for ``seed`` (deterministic)."""
    from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height
    from aiida_mlip_autopipe.candidates.system_bases import molecule_bases, surface_bases

    target, generator = config.target, config.generator
    kinds = target.kinds
    summaries: list[dict[str, Any]] = []
    described: dict[str, Any] = {}
    bases: dict[str, list[Candidate]] = {}
    if 'bulk' in kinds:
        bases['bulk'], summaries, described = base_structures(target, generator, seed, structure)
    if 'surface' in kinds:
        # One k-point along the normal whatever the vacuum: the box is at least this tall.
        height = single_kpoint_height(config.dft.kpoints_distance)
        bases['surface'] = surface_bases(target, seed, structure, height)
    if 'molecule' in kinds:
        bases['molecule'] = molecule_bases(target, seed)
    contact = target.molecule.contact_distance if target.molecule is not None else 2.0
    warnings: list[str] = []
    grown: dict[str, tuple[list[Candidate], int]] = {}
    operations = list(generator.operations)
    for kind, members in bases.items():
        pool, n_base, found = _grow(members, len(members), operations, seed, target.elements, kind, contact)
        grown[kind] = (pool, n_base)
        warnings += [f'{kind}: {w}' if len(bases) > 1 else w for w in found]
    for op_index, operation in enumerate(generator.operations, start=1):
        if not set(APPLIES_TO.get(operation.kind, ())) & set(bases):
            applies = ', '.join(APPLIES_TO.get(operation.kind, ()))
            warnings.append(f'operation {op_index} ({operation.kind}) applies to {applies} only; the pool has none')
    quotas = _quotas({k: len(p) for k, (p, _) in grown.items()}, target.shares, generator.max_candidates)
    candidates: list[Candidate] = []
    dropped = 0
    for kind, (pool, n_base) in grown.items():
        kept, lost = _cap(pool, n_base, quotas[kind], _seed_for(seed, *_KIND_KEYS[kind]) if kind != 'bulk' else seed)
        dropped += lost
        offset = len(candidates)
        for candidate in kept:
            candidate.parent = None if candidate.parent is None else candidate.parent + offset
        candidates += kept
    if dropped:
        if target.shares is not None and len(grown) > 1:
            made = {k: len(p) for k, (p, _) in grown.items()}
            warnings.append(
                f'{dropped} candidates dropped to respect target.shares {dict(target.shares)} and '
                f'generator.max_candidates={generator.max_candidates} (made {made}, kept {quotas})'
            )
        else:
            warnings.append(
                f'{dropped} candidates dropped to respect generator.max_candidates={generator.max_candidates}'
            )
    described['kinds'] = {kind: sum(c.kind == kind for c in candidates) for kind in grown}
    return CandidatePool(candidates, summaries, warnings, dropped, described)


def _remap(parent: int | None, index_map: dict[int, int], pool: list[Candidate]) -> int | None:
    """New index of ``parent`` (an index into ``pool``) or of its nearest kept ancestor."""
    while parent is not None and parent not in index_map:
        parent = pool[parent].parent
    return None if parent is None else index_map[parent]
