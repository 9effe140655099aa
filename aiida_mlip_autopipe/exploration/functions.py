"""Calcfunction that turns uncertain MD frames into candidate structures for the next generation.

A calcfunction, not work-chain code: every candidate gets a ``CREATE`` link from this
function, whose inputs are the ``uncertain_frames`` trajectories of the MD runs, so the
provenance graph leads from each new DFT label back to the MD run (and potential) that
found the environment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

__all__ = ('extract_uncertain_environments', 'frames_from_trajectory')

ORIGIN = 'gamma-extract'


def frames_from_trajectory(trajectory: orm.TrajectoryData) -> list[tuple[Any, np.ndarray, int | None]]:
    """``(atoms, per-atom gamma, MD step)`` for every frame of an ``uncertain_frames`` trajectory."""
    from ase import Atoms

    if 'gamma' not in trajectory.get_arraynames():
        raise ValueError(f'trajectory {trajectory.pk} has no per-atom "gamma" array: is it a LammpsCalculation output?')
    gamma = np.asarray(trajectory.get_array('gamma'), dtype=float)
    positions = trajectory.get_positions()
    cells = trajectory.get_cells()
    steps = trajectory.get_stepids()
    symbols = trajectory.symbols
    frames = []
    for index in range(trajectory.numsteps):
        atoms = Atoms(symbols=symbols, positions=positions[index], cell=cells[index], pbc=True)
        frames.append((atoms, gamma[index], int(steps[index]) if steps is not None else None))
    return frames


@calcfunction
def extract_uncertain_environments(
    settings: orm.Dict, seed: orm.Int, potential: orm.Data | None = None, **trajectories: orm.TrajectoryData
) -> dict[str, orm.Data]:
    """Candidates (``candidate_000``...) cut around high-gamma atoms, plus a ``summary`` Dict.

    Inputs: any number of ``uncertain_frames`` trajectories as keyword arguments (e.g.
    ``trajectory=...`` or ``md_gen01_000=...``), ``settings`` from
    :meth:`aiida_mlip_autopipe.exploration.config.ExtractionConfig.settings` (``core_radius`` may be
    omitted when ``potential`` is given: its ACE cutoff is used), and ``seed`` (orders
    environments of equal gamma; everything else is deterministic).

    Every candidate is an unstored-then-stored ``StructureData`` with attributes
    ``force_weights`` (1 for core atoms, ``buffer_weight`` for buffer atoms; read by
    ``collect_training_set``), ``parent_trajectory_uuid``, ``parent_frame_index``,
    ``parent_step``, ``centre_indices`` (in the frame), ``centre_gamma``, ``source_indices``
    (frame index of each atom), ``core_indices``, ``extraction_mode``, ``generation`` and
    ``origin`` ``'gamma-extract'``; the same provenance keys are set as extras, with
    ``parent_uuid``, so that queries on extras find them.
    """
    from aiida_mlip_autopipe.exploration.environments import select_environments
    from aiida_mlip_autopipe.exploration.extraction import ExtractionSettings, environments_from_frame

    data = dict(settings.get_dict())
    if data.get('core_radius') is None:
        cutoff = potential.base.attributes.get('cutoff', None) if potential is not None else None
        if cutoff is None:
            raise ValueError('settings has no core_radius and no potential with a cutoff was given')
        data['core_radius'] = float(cutoff)
    parsed = ExtractionSettings.from_dict(data)
    if not trajectories:
        raise ValueError('give at least one uncertain_frames trajectory as a keyword argument')

    environments = []
    report: list[dict[str, Any]] = []
    uuids = {}
    n_frames = 0
    for key in sorted(trajectories):
        trajectory = trajectories[key]
        if not isinstance(trajectory, orm.TrajectoryData):
            raise TypeError(f'input {key!r} is a {type(trajectory).__name__}, not a TrajectoryData')
        uuids[key] = trajectory.uuid
        for index, (atoms, gamma, step) in enumerate(frames_from_trajectory(trajectory)):
            found, lines = environments_from_frame(atoms, gamma, parsed, frame_index=index, source=key, step=step)
            environments.extend(found)
            report.extend(lines)
            n_frames += 1
    selected, dropped = select_environments(environments, parsed, seed.value)
    report.extend(dropped)

    outputs: dict[str, orm.Data] = {}
    candidates = []
    for number, env in enumerate(selected):
        structure = orm.StructureData(ase=env.atoms)
        parent_uuid = uuids[env.source]
        attributes = {
            'force_weights': [float(w) for w in env.force_weights],
            'parent_trajectory_uuid': parent_uuid,
            'parent_frame_index': env.frame_index,
            'parent_step': env.step,
            'centre_indices': [int(i) for i in env.centre_indices],
            'centre_gamma': [float(g) for g in env.centre_gamma],
            'centres_in_structure': [int(i) for i in env.centres_in_box],
            'source_indices': [int(i) for i in env.source_indices],
            'core_indices': [int(i) for i in np.nonzero(env.core_mask)[0]],
            'extraction_mode': env.mode,
            'removed_at_seam': env.removed_at_seam,
            'generation': parsed.generation,
            'origin': ORIGIN,
        }
        for key, value in attributes.items():
            structure.base.attributes.set(key, value)
        structure.base.extras.set_many(
            {
                'generation': parsed.generation,
                'origin': ORIGIN,
                'parent_uuid': parent_uuid,
                'parent_frame_index': env.frame_index,
                'parent_step': env.step,
                'centre_indices': attributes['centre_indices'],
                'centre_gamma': attributes['centre_gamma'],
                'max_gamma': env.max_gamma,
            }
        )
        structure.label = f'gamma-extract gen{parsed.generation:02d} {env.source} frame {env.frame_index}'
        outputs[f'candidate_{number:03d}'] = structure
        candidates.append(
            {
                'output': f'candidate_{number:03d}',
                'source': env.source,
                'frame': env.frame_index,
                'step': env.step,
                'mode': env.mode,
                'atoms': len(env.atoms),
                'core_atoms': int(env.core_mask.sum()),
                'max_gamma': env.max_gamma,
            }
        )
    outputs['summary'] = orm.Dict(
        {
            'settings': dict(data),
            'frames': n_frames,
            'environments_found': len(environments),
            'candidates': candidates,
            'decisions': report,
            'dedup': 'internal: dscribe SOAP of the centres (n_max 6, l_max 4, sigma 0.5 Å)',
        }
    )
    return outputs
