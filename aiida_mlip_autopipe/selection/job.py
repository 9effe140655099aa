"""``SelectionCalculation``: which candidates to label, as a job, aware of what is already labelled.

The job (:mod:`~aiida_mlip_autopipe.selection.task`) computes the picks: D-optimal on the
current potential's basis (or an untrained one before the first fit), or farthest point
sampling on SOAP. The parser makes the ``selection`` ``Dict`` (one record per input candidate:
selected, or why not — ``interpolating``, ``duplicate`` or ``budget`` — with its score:
extrapolation grade before and after the picks, or distance to the known set) and copies of
the picks with the same keys and lineage plus ``candidate_uuid``.

Typical use from a work chain (``config`` an ``MLIPConfig``)::

    builder = SelectionCalculation.get_builder()
    builder.code = load_code('mlip-python@localhost')
    builder.settings = selection_settings(config)
    builder.structures = screened
    builder.n, builder.seed, builder.labelled = Int(8), Int(config.seed), training_set
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import CalcJobProcessSpec, ExitCode

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, copy_candidate
from aiida_mlip_autopipe.common.stage_job import StageCalculation, StageParser, copy_file, copy_folder, input_structures
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData

__all__ = ('OUTPUT_SELECTION', 'SelectionCalculation', 'SelectionParser', 'selection_settings')

OUTPUT_SELECTION = 'selection'
#: Extra set on each input candidate ('selected', 'duplicate', 'budget').
EXTRA_SELECTION = 'selection_verdict'
#: Descriptor distance below which two candidates are the same structure (round-off).
SAME_DESCRIPTOR = 1e-6
FILENAME_LABELLED = 'labelled.extxyz'


def selection_settings(config: Any) -> orm.Dict:
    """The ``settings`` of ``SelectionCalculation``: the ``selection`` section plus the target's ``species``.

    The species come from the target (not from the candidates), so that descriptors of every
    generation and of the labelled set live in one space.
    """
    from aiida_mlip_autopipe.config import MLIPConfig

    parsed = config if isinstance(config, MLIPConfig) else MLIPConfig.model_validate(dict(config))
    return orm.Dict({**parsed.selection.model_dump(mode='json'), 'species': list(parsed.target.elements)})


def validate_settings(value: orm.Dict | None, _: Any = None) -> str | None:
    """Why ``settings`` is not a ``selection`` section (plus ``species``), or None."""
    if value is None:
        return None
    from pydantic import ValidationError

    from aiida_mlip_autopipe.common.errors import validation_messages
    from aiida_mlip_autopipe.selection.config import SelectionConfig

    data = dict(value.get_dict())
    species = data.pop('species', [])
    basis = data.pop('basis', None)
    if basis is not None and not isinstance(basis, dict):
        return f'settings.basis must be a pacemaker potential section (a mapping), got {type(basis).__name__}'

    if not isinstance(species, list) or not all(isinstance(s, str) for s in species):
        return f'settings.species must be a list of element symbols, got {species!r}'
    try:
        SelectionConfig.model_validate(data)
    except ValidationError as exc:
        return 'invalid selection settings: ' + '; '.join(validation_messages(exc))
    return None


class SelectionCalculation(StageCalculation):
    """Pick the ``n`` candidates that tell the potential most: D-optimal on ACE's basis, or FPS on SOAP."""

    TASK_MODULE = 'aiida_mlip_autopipe.selection.task'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """Seed, count, the labelled set; the selection record and copies of the picks."""
        super().define(spec)
        spec.inputs['settings'].validator = validate_settings
        spec.inputs['settings'].help = 'The `selection` section plus `species` (see selection_settings).'
        spec.inputs['structures'].required = True
        spec.input('seed', valid_type=orm.Int, help='Chooses the first pick when nothing is labelled yet.')
        spec.input('n', valid_type=orm.Int, required=False, help='How many to pick (default settings.n_select).')
        spec.input(
            'labelled',
            valid_type=TrainingSetData,
            required=False,
            help='The training set so far: picks are far from it.',
        )
        spec.input(
            'potential',
            valid_type=AcePotentialData,
            required=False,
            help="The current potential (with its active set): 'doptimal' picks against it.",
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.selection'
        spec.output(OUTPUT_SELECTION, valid_type=orm.Dict, help='Order, distances and a record per candidate.')
        spec.output_namespace(
            OUTPUT_STRUCTURES, valid_type=orm.StructureData, dynamic=True, help='Copies of the picks.'
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """Seed, count and the labelled frames (the training set's own extxyz file)."""
        task: dict[str, Any] = {
            'seed': self.inputs.seed.value,
            'n': self.inputs.n.value if 'n' in self.inputs else None,
        }
        if 'labelled' in self.inputs and self.inputs.labelled.num_frames:
            task['labelled'] = copy_file(self.inputs.labelled, folder, FILENAME_LABELLED)
        if 'potential' in self.inputs and self.inputs.potential.has_active_set:
            task['potential'] = copy_folder(self.inputs.potential, folder, 'potential')
        return task


class SelectionParser(StageParser):
    """The selection record (every candidate with its score and verdict) and copies of the picks."""

    REQUIRED = ('method', 'order', 'stopped')

    def _record(self, key: str, result: dict[str, Any], rank: dict[str, int], threshold: float) -> dict[str, Any]:
        """One candidate's verdict and scores."""
        if result['method'] == 'doptimal':
            after = (result.get('gamma_after') or {}).get(key)
            if key in rank:
                verdict = 'selected'
            else:
                interpolating = result['stopped'] == 'interpolating' or (after is not None and after <= 1.0)
                verdict = 'interpolating' if interpolating else 'budget'
            return {
                'verdict': verdict,
                'rank': rank.get(key),
                'gamma': (result.get('gamma') or {}).get(key),
                'gamma_after': after,
                'score': result['scores'][rank[key]] if key in rank else None,
                'active_set_rows': (result.get('active_set_rows') or {}).get(key),
            }
        if key in rank:
            distance, verdict = result['distances'][rank[key]], 'selected'
        else:
            distance = result['remaining'].get(key)
            duplicate = distance is not None and distance <= max(threshold, SAME_DESCRIPTOR)
            verdict = 'duplicate' if duplicate else 'budget'
        return {'verdict': verdict, 'rank': rank.get(key), 'distance': distance}

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``selection`` and ``structures`` outputs; each input candidate gets the ``selection_verdict`` extra."""
        from aiida_mlip_autopipe.selection.config import SelectionConfig

        candidates = input_structures(self.node)
        order = list(result['order'])
        unknown = sorted(set(order) - set(candidates))
        if unknown:
            return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error=f'picks {unknown[:5]} are not inputs')
        data = dict(self.node.inputs.settings.get_dict())
        data.pop('species', None)
        data.pop('basis', None)
        parsed = SelectionConfig.model_validate(data)
        rank = {key: r for r, key in enumerate(order)}
        records: dict[str, Any] = {}
        selected: dict[str, orm.StructureData] = {}
        for key, node in candidates.items():
            record = self._record(key, result, rank, parsed.duplicate_distance)
            records[key] = {'uuid': node.uuid, 'origin': node.base.extras.get('origin', None), **record}
            node.base.extras.set(EXTRA_SELECTION, record['verdict'])
            if key in rank:
                scores = {k: v for k, v in record.items() if k not in ('verdict', 'active_set_rows')}
                selected[key] = copy_candidate(node, selection=scores)
        summary = {
            key: value
            for key, value in result.items()
            if key not in ('remaining', 'gamma', 'gamma_after', 'active_set_rows', 'job')
        }
        summary.update(
            {
                'uuids': [candidates[k].uuid for k in order],
                'n_selected': len(order),
                'n_candidates': len(candidates),
                'descriptor': parsed.descriptor.model_dump(mode='json') if result['method'] == 'fps' else None,
                'candidates': records,
                'job': result.get('job', {}),
            }
        )
        self.out(OUTPUT_SELECTION, orm.Dict(summary))
        if selected:
            self.out(OUTPUT_STRUCTURES, selected)
        return None
