"""Where a label came from: ``dft:pw.x`` with its code and the settings that matter, or ``oracle:<name>``.

Each labelled frame carries its source in four ``info`` keys (they travel with the frame
through extxyz, merges and pacemaker's DataFrame, see ``common.names.FRAME_INFO_KEYS``):

``label_source``
    ``dft:pw.x`` or ``oracle:emt``; ``unknown`` for outputs no code made (``label_settings``
    says why), and what a frame from outside (an imported extxyz without these keys) counts as.
``label_code`` / ``label_code_uuid``
    the AiiDA code that made the label (full label and UUID), or the oracle's calculator.
``label_settings``
    a JSON object of the settings a DFT label depends on: functional, pseudopotential
    family, cutoffs, k-points, smearing, spin.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiida import orm

__all__ = (
    'LABEL_KEYS',
    'UNKNOWN',
    'describe_label_sources',
    'label_source_of',
    'summarise_label_sources',
)

#: The per-frame ``info`` keys of a label's source.
LABEL_KEYS = ('label_source', 'label_code', 'label_code_uuid', 'label_settings')
#: The source of a frame that carries none (imported from outside the provenance graph).
UNKNOWN = 'unknown'


def _pseudo_families(pseudos: Iterable[orm.Node]) -> list[str]:
    """Labels of the pseudopotential families (aiida-pseudo groups) holding these pseudopotentials."""
    pks = [node.pk for node in pseudos]
    if not pks:
        return []
    query = orm.QueryBuilder()
    query.append(orm.Group, filters={'type_string': {'like': 'pseudo.family%'}}, project='label', tag='family')
    query.append(orm.Node, with_group='family', filters={'id': {'in': pks}})
    return sorted({label for (label,) in query.all()})


def _pw_settings(calculation: orm.CalcJobNode, output: dict[str, Any]) -> dict[str, Any]:
    """The settings of a ``PwCalculation`` that change its label."""
    parameters = calculation.inputs.parameters.get_dict()
    system = parameters.get('SYSTEM', {})
    settings: dict[str, Any] = {
        'functional': system.get('input_dft') or output.get('dft_exchange_correlation'),
        'pseudo_family': None,
        'ecutwfc': system.get('ecutwfc'),
        'ecutrho': system.get('ecutrho'),
        'occupations': system.get('occupations'),
        'smearing': system.get('smearing'),
        'degauss': system.get('degauss'),
        'nspin': system.get('nspin', 1),
    }
    pseudos = calculation.inputs.pseudos if 'pseudos' in calculation.inputs else {}
    families = _pseudo_families(pseudos.values())
    settings['pseudo_family'] = families[0] if len(families) == 1 else (families or None)
    if 'kpoints' in calculation.inputs:
        try:
            mesh, _ = calculation.inputs.kpoints.get_kpoints_mesh()
            settings['kpoints_mesh'] = [int(n) for n in mesh]
        except AttributeError:  # an explicit list of k-points
            settings['kpoints_mesh'] = None
    caller = calculation.caller
    if caller is not None and 'kpoints_distance' in caller.inputs:
        settings['kpoints_distance'] = float(caller.inputs.kpoints_distance.value)
    return settings


def label_source_of(parameters: orm.Dict, trajectory: orm.TrajectoryData) -> dict[str, str]:
    """The four ``info`` values of :data:`LABEL_KEYS` for the label made of ``parameters`` and ``trajectory``.

    The oracle's ``label_with_oracle`` names itself in its ``output_parameters``; anything else
    must come from a calculation with a code (pw.x), read from the node that created the outputs;
    outputs no code created are ``unknown``, with the reason in ``label_settings``.
    """
    output = parameters.get_dict()
    if 'label_source' in output:  # the benchmark oracle says what it is
        return {
            'label_source': str(output['label_source']),
            'label_code': str(output.get('label_code', '')),
            'label_code_uuid': '',
            'label_settings': json.dumps(output.get('label_settings', {}), sort_keys=True),
        }
    calculation = trajectory.creator
    if calculation is None or 'code' not in calculation.inputs:
        why = f'trajectory<{trajectory.pk}> was not created by a calculation with a code'
        return {
            'label_source': UNKNOWN,
            'label_code': '',
            'label_code_uuid': '',
            'label_settings': json.dumps({'why': why}),
        }
    code = calculation.inputs.code
    return {
        'label_source': 'dft:pw.x',
        'label_code': code.full_label,
        'label_code_uuid': code.uuid,
        'label_settings': json.dumps(_pw_settings(calculation, output), sort_keys=True),
    }


def summarise_label_sources(frames: Iterable[Any]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Frames per source (``{'dft:pw.x': 24}``) and the distinct (source, code, settings) among ``frames``."""
    counts: Counter[str] = Counter()
    origins: dict[str, dict[str, Any]] = {}
    for atoms in frames:
        source = str(atoms.info.get('label_source') or UNKNOWN)
        counts[source] += 1
        if source == UNKNOWN and not atoms.info.get('label_settings'):
            continue  # imported from outside: nothing more is known
        raw = atoms.info.get('label_settings') or '{}'
        try:
            settings = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError:
            settings = {'unreadable': str(raw)[:200]}
        origin = {
            'label_source': source,
            'label_code': str(atoms.info.get('label_code') or ''),
            'label_code_uuid': str(atoms.info.get('label_code_uuid') or ''),
            'label_settings': settings,
        }
        origins.setdefault(json.dumps(origin, sort_keys=True), {**origin, 'frames': 0})['frames'] += 1
    return dict(sorted(counts.items())), [origins[key] for key in sorted(origins)]


def describe_label_sources(counts: dict[str, int]) -> str:
    """One phrase for reports and plots: ``'DFT (pw.x)'``, ``'EMT oracle (benchmark, NOT DFT)'`` or a mix."""
    if not counts:
        return 'no labels'

    def name(source: str) -> str:
        kind, _, what = source.partition(':')
        if kind == 'dft':
            return f'DFT ({what})'
        if kind == 'oracle':
            return f'{what.upper()} oracle (benchmark, NOT DFT)'
        return 'unknown source'

    if len(counts) == 1:
        return name(next(iter(counts)))
    return ' + '.join(f'{n} {name(source)}' for source, n in sorted(counts.items(), key=lambda item: -item[1]))
