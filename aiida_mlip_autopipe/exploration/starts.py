"""Starting cells of the exploration MD, made by a calcfunction so each MD run links to its origin."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('build_md_structures',)


@calcfunction
def build_md_structures(config: orm.Dict, seed: orm.Int, structure: orm.StructureData | None = None) -> dict:
    """Supercells of the base structure with about ``exploration.supercell_atoms`` atoms.

    Alloys get one SQS per ``exploration.structures_per_generation``; pure elements get
    the ideal supercell (the MD runs differ by their velocity seeds). Returns the
    namespace ``structures`` (``md0000``, ...).
    """
    from aiida_mlip_autopipe.candidates.builder import base_structures
    from aiida_mlip_autopipe.config import parse_config

    parsed = parse_config(config.get_dict())
    count = parsed.exploration.structures_per_generation
    target = parsed.target.model_copy(update={'supercell_atoms': [parsed.exploration.supercell_atoms]})
    generator = parsed.generator.model_copy(
        update={'sqs': parsed.generator.sqs.model_copy(update={'n_structures': count})}
    )
    base = structure.get_ase() if structure is not None else None
    candidates, _, _ = base_structures(target, generator, int(seed.value) + 1000, base)
    outputs = {}
    for i in range(count):
        candidate = candidates[i % len(candidates)]
        node = orm.StructureData(ase=candidate.atoms)
        node.label = f'md-start/{candidate.name}'
        node.base.attributes.set('origin', f'md-start-{candidate.origin}')
        outputs[f'md{i:04d}'] = node
    return {'structures': outputs}
