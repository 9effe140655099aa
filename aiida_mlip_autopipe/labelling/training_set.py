"""Calcfunctions that turn DFT results into training-set nodes.

They are calcfunctions (not workchain code) so that the provenance graph shows exactly
which ``PwCalculation`` outputs went into which training set.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.common.names import FORCE_WEIGHT_ARRAY
from aiida_mlip_autopipe.common.units import GPA_TO_EV_PER_A3
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.labelling.label_source import label_source_of

__all__ = ('collect_training_set', 'frame_from_pw_outputs', 'merge_training_sets')

_INDEXED = re.compile(r'^(structure|parameters|trajectory)_(\d+)$')


def frame_from_pw_outputs(structure: orm.StructureData, parameters: orm.Dict, trajectory: orm.TrajectoryData) -> Any:
    """An ASE ``Atoms`` with energy (eV), forces (eV/Å) and stress (eV/Å³, ASE sign) from a pw.x SCF.

    The frame records where its label came from (``label_source`` and friends, see
    :mod:`~aiida_mlip_autopipe.labelling.label_source`): pw.x with its code and settings, or the
    benchmark oracle that made outputs of the same shape.

    pw.x reports stress with pressure positive under compression; ASE's convention is
    the opposite sign, so it is negated here. The energy is pw.x's total energy, which
    with smearing is the free energy that the forces are consistent with.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = structure.get_ase()
    energy = parameters.get_dict().get('energy')
    if energy is None:
        raise ValueError(f'output parameters {parameters.pk} have no energy')
    names = trajectory.get_arraynames()
    if 'forces' not in names:
        raise ValueError(f'trajectory {trajectory.pk} has no forces: was tprnfor set?')
    forces = np.asarray(trajectory.get_array('forces'))[-1]
    if forces.shape != (len(atoms), 3):
        raise ValueError(f'forces of shape {forces.shape} do not match {len(atoms)} atoms')
    results: dict[str, Any] = {'energy': float(energy), 'forces': forces}
    if 'stress' in names:
        stress_gpa = np.asarray(trajectory.get_array('stress'))[-1]
        results['stress'] = -stress_gpa * GPA_TO_EV_PER_A3
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info['structure_uuid'] = structure.uuid
    atoms.info['source_uuid'] = trajectory.uuid
    atoms.info.update(label_source_of(parameters, trajectory))
    creator = trajectory.creator
    caller = creator.caller if creator is not None else None
    if caller is not None:
        atoms.info['workchain_uuid'] = caller.uuid
    extras = structure.base.extras.all
    for key in ('generation', 'origin'):
        if key in extras:
            atoms.info[key] = extras[key]
    # Cut-out environments carry per-atom force weights (core 1, buffer lower) as an
    # immutable attribute set by the calcfunction that made them.
    weights = structure.base.attributes.get('force_weights', None)
    if weights is not None and len(weights) == len(atoms):
        atoms.arrays[FORCE_WEIGHT_ARRAY] = np.asarray(weights, dtype=float)
    if structure.label:
        atoms.info['structure_label'] = structure.label
    atoms.info['name'] = f'{atoms.get_chemical_formula()}_{structure.uuid[:8]}'
    return atoms


@calcfunction
def collect_training_set(**labels: orm.Data) -> TrainingSetData:
    """Gather successful pw.x labels into one training set.

    Inputs come in triples ``structure_<i>``, ``parameters_<i>``, ``trajectory_<i>``,
    the outputs of one finished ``PwBaseWorkChain`` each; failed labels are never
    passed in, so nothing unconverged can enter the set.
    """
    groups: dict[str, dict[str, orm.Data]] = {}
    for key, node in labels.items():
        match = _INDEXED.match(key)
        if match is None:
            raise ValueError(f'unexpected input {key!r}: use structure_<i>, parameters_<i>, trajectory_<i>')
        groups.setdefault(match.group(2), {})[match.group(1)] = node
    frames = []
    for index in sorted(groups, key=int):
        group = groups[index]
        missing = {'structure', 'parameters', 'trajectory'} - set(group)
        if missing:
            raise ValueError(f'label {index} lacks {sorted(missing)}')
        frames.append(frame_from_pw_outputs(group['structure'], group['parameters'], group['trajectory']))
    return TrainingSetData.from_frames(frames)


@calcfunction
def merge_training_sets(**sets: TrainingSetData) -> TrainingSetData:
    """Union of training sets in key order; a frame from the same source is kept once."""
    ordered = [sets[key] for key in sorted(sets)]
    return TrainingSetData.from_frames(TrainingSetData.merge_frames(ordered))
