"""Base structures of the non-bulk kinds: slabs of each configured surface, molecules and clusters.

Called by :func:`~aiida_mlip_autopipe.candidates.builder.build_candidates` next to the bulk
base structures, by the MD start cells and by validation. Each comes as a
:class:`~aiida_mlip_autopipe.candidates.builder.Candidate` with ``kind`` ``surface`` or
``molecule`` and a record of how it was made; randomness (cluster packings, the decoration of an
alloy slab) is drawn from generators seeded from the run seed and the structure's indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from aiida_mlip_autopipe.candidates import molecules as _molecules
from aiida_mlip_autopipe.candidates import surfaces as _surfaces

if TYPE_CHECKING:
    from ase import Atoms

    from aiida_mlip_autopipe.candidates.config import MoleculeTarget, SurfaceTarget, TargetSystem

__all__ = (
    'MOLECULE_ARRAY',
    'bulk_lattice',
    'cluster',
    'molecule_bases',
    'molecule_groups',
    'single_molecule',
    'slab_for',
    'surface_bases',
)

#: Per-atom array of a molecule structure: which molecule of the cluster each atom belongs to.
MOLECULE_ARRAY = 'molecule_id'


def molecule_groups(atoms: Atoms) -> list[list[int]] | None:
    """The atoms of each molecule of a molecule structure (from :data:`MOLECULE_ARRAY`), or None."""
    ids = atoms.arrays.get(MOLECULE_ARRAY)
    if ids is None:
        return None
    return [[int(i) for i in np.flatnonzero(ids == m)] for m in np.unique(ids)]


def bulk_lattice(target: TargetSystem, structure: Atoms | None = None) -> tuple[Atoms, np.ndarray, str | None]:
    """The primitive cell slabs are cut from, the cell their Miller indices refer to, and the prototype."""
    from aiida_mlip_autopipe.candidates import bulk as _bulk
    from aiida_mlip_autopipe.candidates.structure_file import read_structure_file

    if structure is not None:
        primitive = structure.copy()
        primitive.pbc = True
        return primitive, np.asarray(primitive.cell.array), None
    if target.structure_file is not None:
        primitive = read_structure_file(target.structure_file)
        return primitive, np.asarray(primitive.cell.array), None
    if target.prototype is None:
        raise ValueError('surfaces are cut from the bulk lattice: give target.prototype or target.structure_file')
    primitive = _bulk.build_primitive(
        target.prototype, target.lattice_elements, target.lattice_constant, target.c_over_a, target.lattice_composition
    )
    return primitive, _surfaces.conventional_cell(target.prototype, primitive), target.prototype


def _decorate(slab: Atoms, target: TargetSystem, rng: np.random.Generator) -> tuple[Atoms, dict[str, int]]:
    """An alloy slab: the target's composition spread at random over the sites (exact whole counts)."""
    from aiida_mlip_autopipe.candidates.sqs import integer_counts

    counts = integer_counts(len(slab), target.lattice_composition)
    symbols = [element for element, count in counts.items() for _ in range(count)]
    decorated = slab.copy()
    decorated.set_chemical_symbols([symbols[i] for i in rng.permutation(len(symbols))])
    return decorated, dict(counts)


def slab_for(
    target: TargetSystem,
    surface: SurfaceTarget,
    structure: Atoms | None = None,
    repeat: tuple[int, int] | None = None,
    rng: np.random.Generator | None = None,
    min_height: float = 0.0,
) -> tuple[Atoms, dict[str, Any]]:
    """The slab of ``surface`` (``repeat`` overrides its in-plane repeat) and a record of its geometry.

    ``min_height`` is the least length of the box along the normal (see
    :func:`~aiida_mlip_autopipe.candidates.kinds.single_kpoint_height`).
    """
    primitive, conventional, prototype = bulk_lattice(target, structure)
    hexagonal = prototype is None or prototype in _surfaces.HEXAGONAL_PROTOTYPES
    miller = _surfaces.miller_three(surface.miller, hexagonal)
    slab = _surfaces.build_slab(
        primitive, conventional, miller, surface.layers, surface.vacuum, repeat or tuple(surface.repeat), min_height
    )
    details: dict[str, Any] = {
        'miller': list(surface.miller),
        'layers': surface.layers,
        'vacuum': surface.vacuum,
        'repeat': list(repeat or surface.repeat),
        'area': _surfaces.slab_area(slab),
        'thickness': float(np.ptp(slab.positions[:, 2])),
        'height': float(slab.cell.array[2, 2]),
    }
    if target.is_alloy:
        slab, counts = _decorate(slab, target, rng if rng is not None else np.random.default_rng(0))
        details['counts'] = counts
    bulk_symbols = primitive.get_chemical_symbols()
    slab_symbols = slab.get_chemical_symbols()
    if not target.is_alloy and len(set(bulk_symbols)) > 1:
        ratio = {e: slab_symbols.count(e) / len(slab_symbols) for e in set(bulk_symbols)}
        bulk_ratio = {e: bulk_symbols.count(e) / len(bulk_symbols) for e in set(bulk_symbols)}
        details['stoichiometric'] = all(abs(ratio[e] - bulk_ratio[e]) < 1e-9 for e in ratio)
    else:
        details['stoichiometric'] = True
    return slab, details


def surface_bases(target: TargetSystem, seed: int, structure: Atoms | None = None, min_height: float = 0.0) -> list:
    """One slab per configured surface (alloy slabs decorated with a seeded random generator)."""
    from aiida_mlip_autopipe.candidates.builder import Candidate

    bases = []
    for index, surface in enumerate(target.surfaces):
        rng = np.random.default_rng([int(seed), 0, 1, index])
        slab, details = slab_for(target, surface, structure, rng=rng, min_height=min_height)
        name = 'surface-' + ''.join(str(m) for m in surface.miller).replace('-', 'm') + f'-{len(slab)}'
        bases.append(Candidate(slab, name, 'surface', None, ['surface'], details, kind='surface'))
    return bases


def single_molecule(spec: MoleculeTarget) -> Atoms:
    """The configured molecule (centred, no cell)."""
    if spec.name is not None:
        return _molecules.molecule_from_name(spec.name)
    assert spec.file is not None
    return _molecules.molecule_from_file(spec.file)


def cluster(spec: MoleculeTarget, count: int, rng: np.random.Generator) -> Atoms:
    """``count`` molecules of ``spec`` in their vacuum box (one molecule: itself, unrotated), with molecule ids."""
    molecule = single_molecule(spec)
    atoms = molecule if count == 1 else _molecules.build_cluster(molecule, count, rng, spec.contact_distance)
    boxed = _molecules.box(atoms, spec.vacuum)
    boxed.arrays[MOLECULE_ARRAY] = np.repeat(np.arange(count), len(molecule))
    return boxed


def molecule_bases(target: TargetSystem, seed: int) -> list:
    """The molecule alone (size 1) and ``clusters_per_size`` seeded clusters of each larger size."""
    from aiida_mlip_autopipe.candidates.builder import Candidate

    spec = target.molecule
    assert spec is not None
    unknown = sorted(set(single_molecule(spec).get_chemical_symbols()) - set(target.elements))
    if unknown:
        raise ValueError(f'the molecule contains {unknown}, which are not in target.elements {target.elements}')
    label = spec.name or 'molecule'
    bases = []
    for size_index, count in enumerate(spec.cluster_sizes):
        for k in range(1 if count == 1 else spec.clusters_per_size):
            rng = np.random.default_rng([int(seed), 0, 2, size_index, k])
            atoms = cluster(spec, count, rng)
            origin = 'molecule' if count == 1 else 'cluster'
            details = {
                'molecule': label,
                'molecules': count,
                'vacuum': spec.vacuum,
                'box': [float(x) for x in atoms.cell.lengths()],
            }
            if count > 1:
                groups = [list(np.flatnonzero(atoms.arrays[MOLECULE_ARRAY] == m)) for m in range(count)]
                details['closest_intermolecular'] = _molecules.intermolecular_distance(atoms, groups)
            name = f'{origin}-{label}-{count}' + (f'-{k}' if count > 1 else '')
            bases.append(Candidate(atoms, name, origin, None, [origin], details, kind='molecule'))
    return bases
