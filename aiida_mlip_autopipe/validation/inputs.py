"""What validation asks pw.x beyond single points: the relaxation of the target molecule (issue 16)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiida import orm

__all__ = ('RY_PER_BOHR_IN_EV_PER_A', 'molecule_relax_inputs')

#: 1 Ry/bohr in eV/Å.
RY_PER_BOHR_IN_EV_PER_A = 25.71104309541616


def molecule_relax_inputs(
    template: Mapping[str, Any], structure: orm.StructureData, fmax: float, conv_thr_per_atom: float | None = None
) -> dict[str, Any]:
    """``PwBaseWorkChain`` inputs that relax ``structure`` (a molecule), from the labelling template ``template``.

    The settings of a molecule's label (Γ tricks, Martyna–Tuckerman, no stress:
    :func:`~aiida_mlip_autopipe.labelling.pw_inputs.structure_settings`) with
    ``calculation = 'relax'`` (BFGS, fixed cell) and ``forc_conv_thr`` = ``fmax`` (eV/Å) in Ry/bohr,
    so both relaxations stop at the same force.
    """
    from aiida_mlip_autopipe.labelling.pw_inputs import structure_settings

    pw = template['pw']
    parameters = pw['parameters'].get_dict() if isinstance(pw['parameters'], orm.Dict) else dict(pw['parameters'])
    settings = pw['settings'].get_dict() if 'settings' in pw else {}
    parameters, settings, mesh = structure_settings(structure, parameters, settings)
    control = parameters.setdefault('CONTROL', {})
    control['calculation'] = 'relax'
    control['forc_conv_thr'] = fmax / RY_PER_BOHR_IN_EV_PER_A
    control['etot_conv_thr'] = 1e-5 * len(structure.sites)
    parameters.setdefault('IONS', {})
    if conv_thr_per_atom is not None:
        parameters.setdefault('ELECTRONS', {})['conv_thr'] = conv_thr_per_atom * len(structure.sites)
    inputs: dict[str, Any] = {
        'pw': {
            'code': pw['code'],
            'structure': structure,
            'pseudos': {kind.name: pw['pseudos'][kind.symbol] for kind in structure.kinds},
            'parameters': orm.Dict(parameters),
            'metadata': dict(pw.get('metadata', {})),
        },
        'metadata': {'call_link_label': 'relax_molecule_validation'},
    }
    if settings:
        inputs['pw']['settings'] = orm.Dict(settings)
    if mesh is not None:
        kpoints = orm.KpointsData()
        kpoints.set_kpoints_mesh(mesh)
        inputs['kpoints'] = kpoints
    else:
        inputs['kpoints_distance'] = template['kpoints_distance']
    return inputs
