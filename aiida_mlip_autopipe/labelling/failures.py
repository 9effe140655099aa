"""Why a label failed: the checks before and after pw.x, and the calcfunction that records the failures.

pw.x stops only when two atoms sit exactly on the same spot, and a converged SCF of a
broken structure reports forces of 1e7 eV/Å; both must become recorded failures, not
training data. Failures are data, linked to the structures that failed.
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.common.geometry import closest_pair

__all__ = (
    'MAX_LABEL_FORCE',
    'MIN_DISTANCE',
    'implausible_label',
    'outputs_survived_a_kill',
    'overlap_problem',
    'record_failures',
)

#: Closest two atoms may be (Å, periodic images included) for a structure to be labelled.
MIN_DISTANCE = 0.5
#: Largest force (eV/Å) a label may have; a converged SCF beyond it is a broken structure.
MAX_LABEL_FORCE = 1000.0


def overlap_problem(structure: orm.StructureData, min_distance: float) -> str | None:
    """Why ``structure`` has overlapping atoms (periodic images included), or None."""
    atoms = structure.get_ase()
    if len(atoms) == 0:
        return 'the structure has no atoms'
    if min_distance <= 0:
        return None
    pair = closest_pair(atoms, min_distance)
    if pair is None:
        return None
    i, j, d = pair
    return f'atoms {i} and {j} are {d:.3f} Å apart (< {min_distance} Å)'


def outputs_survived_a_kill(child: orm.ProcessNode) -> bool:
    """Whether a child that failed with exit 11 has its outputs anyway (daemon killed while attaching).

    A worker killed while a PwBaseWorkChain attaches its outputs can leave it "finished
    [11] did not register a required output" although its last PwCalculation finished
    ok and the outputs are linked: the label is good, and discarding it would waste DFT.
    """
    if child.exit_status != 11:
        return False
    calcs = [c for c in child.called if isinstance(c, orm.CalcJobNode)]
    last = max(calcs, key=lambda c: c.pk, default=None)
    return last is not None and last.is_finished_ok


def implausible_label(outputs: Any) -> str | None:
    """Why a finished label cannot be right (non-finite or enormous energy/forces), or None."""
    import numpy as np

    energy = outputs.output_parameters.get('energy')
    if energy is None or not np.isfinite(energy):
        return f'unphysical label: energy {energy}'
    trajectory = outputs.output_trajectory
    if 'forces' in trajectory.get_arraynames():
        forces = np.asarray(trajectory.get_array('forces'))[-1]
        largest = float(np.abs(forces).max()) if forces.size else 0.0
        if not np.isfinite(largest) or largest > MAX_LABEL_FORCE:
            return f'unphysical label: max |F| {largest:.3g} eV/Å > {MAX_LABEL_FORCE:g}'
    return None


@calcfunction
def record_failures(failures: orm.Dict, **inputs: orm.Data) -> orm.Dict:
    """Return the failure records, linked in provenance to the structures (or other inputs) that failed.

    ``failures['failed']`` is a list of records (key, process PK and UUID, exit status,
    message); ``inputs`` are the nodes those records refer to, so ``verdi node graph``
    shows what failed next to what succeeded.
    """
    record = failures.get_dict()
    failed = record.get('failed', [])
    uuids = {node.uuid for node in inputs.values()}
    for item in failed:
        if 'structure_uuid' in item and item['structure_uuid'] not in uuids:
            raise ValueError(f'failure record for {item.get("key")} names a structure that was not passed in')
    record['num_failed'] = len(failed)
    return orm.Dict(record)
