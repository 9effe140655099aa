"""Starting cells of the exploration MD, made by a calcfunction so each MD run links to its origin.

Every kind of base structure of the target gets its own start cells (issue 16):

- **bulk**: a supercell of about ``exploration.supercell_atoms`` atoms (one SQS per start for
  alloys, the ideal supercell otherwise: the runs then differ by their velocity seeds);
- **surface**: the slab of a configured surface, repeated in-plane to about
  ``exploration.supercell_atoms`` atoms, every layer free (none fixed: both faces are surfaces
  the potential must learn, the thermostat keeps the slab from drifting, and a frozen bottom
  would put atoms in a state neither DFT nor the potential samples);
- **molecule**: a cluster of the largest ``molecule.cluster_sizes`` molecules (one molecule
  when that is 1).

Slabs and clusters run in a *padded periodic box*: ``boundary p p p`` with the vacuum of the
candidates, at least ``cutoff / 2 + 1.5`` Å per side, so atoms never interact with a periodic
image across it (and the slab box at least as tall as the candidates', so that the slabs cut
out of its frames keep one k-point along the normal). Both LAMMPS programs (ML-PACE, and the
``mlip-autopipe-lammps`` driver, whose fix external supports only periodic boxes) run it
unchanged; atoms that evaporate stay in the box (with ``boundary f`` LAMMPS would stop on lost
atoms), and the box is the one pw.x labels. The start nodes record the kind in the attribute
``kind``; the extraction recognises slabs and clusters in the frames by their vacuum gaps.
Keep the NPT ensemble for bulk targets: a barostat would collapse the vacuum.

How many starts each kind gets: ``exploration.structures_per_generation`` split by
``target.shares`` (equal shares without them), at least one per kind. Every bulk start runs at
each of ``exploration.volume_strains`` (linear, isotropic; issue 13): NVT at the target lattice
alone gives labels of one volume, while the E-V curve, the bulk modulus and the phonons are
judged over +-6 % of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('build_md_structures', 'md_start_cells', 'md_vacuum', 'starts_per_kind')


def md_vacuum(vacuum: float, cutoff: float) -> float:
    """Vacuum per side (Å) of a padded MD box: the configured one, at least ``cutoff / 2 + 1.5``.

    Periodic images are then more than a cutoff plus 3 Å apart, which thermal vibrations of a
    few tenths of an ångström do not close.
    """
    return max(float(vacuum), cutoff / 2 + 1.5)


def starts_per_kind(kinds: list[str], shares: dict[str, float] | None, count: int) -> dict[str, int]:
    """Start cells per kind: ``count`` split by ``shares`` (equal without), at least one each."""
    if not kinds:
        return {}
    weights = {kind: shares.get(kind, 0.0) if shares else 1.0 / len(kinds) for kind in kinds}
    return {kind: max(1, round(count * weight)) for kind, weight in weights.items()}


def _padded(atoms: Atoms, vacuum: float, min_height: float = 0.0) -> Atoms:
    """``atoms`` (a slab or a cluster) in a periodic box, ``vacuum`` Å around; a slab box ``min_height`` at least."""
    from aiida_mlip_autopipe.candidates.molecules import box

    if not atoms.pbc.any():
        padded = box(atoms, vacuum)
    else:
        padded = atoms.copy()
        z = padded.positions[:, 2]
        height = max(float(np.ptp(z)) + 2 * vacuum, min_height)
        cell = padded.cell.array.copy()
        cell[2] = [0.0, 0.0, height]
        padded.set_cell(cell, scale_atoms=False)
        padded.positions[:, 2] += (height - np.ptp(z)) / 2 - z.min()
    padded.pbc = True
    return padded


def _strained(name: str, atoms: Atoms, strain: float) -> tuple[str, Atoms, str]:
    """A bulk start cell scaled by ``1 + strain`` along every axis (atoms move with it); unstrained as it was."""
    if strain == 0.0:
        return name, atoms, 'bulk'
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array * (1.0 + strain), scale_atoms=True)
    strained.info['volume_strain'] = float(strain)
    return f'{name}-strain{strain:+.3f}', strained, 'bulk'


def md_start_cells(config: Any, seed: int, structure: Atoms | None = None) -> list[tuple[str, Atoms, str]]:
    """``(name, atoms, kind)`` of every start cell of one generation, bulk first; all periodic boxes."""
    from aiida_mlip_autopipe.candidates.builder import base_structures
    from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height
    from aiida_mlip_autopipe.candidates.surfaces import in_plane_repeat
    from aiida_mlip_autopipe.candidates.system_bases import cluster, slab_for

    target = config.target
    target_atoms = config.exploration.supercell_atoms
    counts = starts_per_kind(target.kinds, target.shares, config.exploration.structures_per_generation)
    cutoff = float(config.training.cutoff)
    cells: list[tuple[str, Atoms, str]] = []
    height = single_kpoint_height(config.dft.kpoints_distance)
    if 'bulk' in counts:
        count = counts['bulk']
        sized = target.model_copy(update={'supercell_atoms': [target_atoms]})
        generator = config.generator.model_copy(
            update={'sqs': config.generator.sqs.model_copy(update={'n_structures': count})}
        )
        candidates, _, _ = base_structures(sized, generator, int(seed) + 1000, structure)
        for i in range(count):
            candidate = candidates[i % len(candidates)]
            for strain in config.exploration.volume_strains:
                cells.append(_strained(candidate.name, candidate.atoms, strain))
    for i in range(counts.get('surface', 0)):
        surface = target.surfaces[i % len(target.surfaces)]
        one, _ = slab_for(target, surface, structure, repeat=(1, 1))
        repeat = in_plane_repeat(one, target_atoms)
        rng = np.random.default_rng([int(seed), 2000, i])
        slab, _ = slab_for(target, surface, structure, repeat=repeat, rng=rng)
        name = 'surface-' + ''.join(str(m) for m in surface.miller).replace('-', 'm') + f'-{len(slab)}'
        cells.append((name, _padded(slab, md_vacuum(surface.vacuum, cutoff), height), 'surface'))
    for i in range(counts.get('molecule', 0)):
        spec = target.molecule
        size = max(spec.cluster_sizes)
        atoms = cluster(spec, size, np.random.default_rng([int(seed), 3000, i]))
        name = f'cluster-{spec.name or "molecule"}-{size}'
        cells.append((name, _padded(atoms, md_vacuum(spec.vacuum, cutoff)), 'molecule'))
    return cells


@calcfunction
def build_md_structures(config: orm.Dict, seed: orm.Int, structure: orm.StructureData | None = None) -> dict:
    """The start cells of the exploration MD (see the module docstring): namespace ``structures`` (``md0000``...).

    Each node has the attributes ``origin`` (``md-start-<origin>``), ``kind`` and ``volume_strain``
    (the linear strain of a bulk start, 0 otherwise).
    """
    from aiida_mlip_autopipe.config import parse_config

    parsed = parse_config(config.get_dict())
    base = structure.get_ase() if structure is not None else None
    outputs = {}
    for i, (name, atoms, kind) in enumerate(md_start_cells(parsed, int(seed.value), base)):
        node = orm.StructureData(ase=atoms)
        node.label = f'md-start/{name}'
        node.base.attributes.set('origin', f'md-start-{name.split("-")[0]}')
        node.base.attributes.set('kind', kind)
        node.base.attributes.set('volume_strain', float(atoms.info.get('volume_strain', 0.0)))
        outputs[f'md{i:04d}'] = node
    return {'structures': outputs}
