"""``SelectionCalculation``: farthest point sampling on SOAP as a job, aware of what is already labelled.

The job (:mod:`~aiida_mlip_autopipe.selection.task`) computes the descriptors and the picks;
the parser makes the ``selection`` ``Dict`` (one record per input candidate: selected, or
why not — ``duplicate`` or ``budget`` — with its distance to the known set) and copies of
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
from aiida_mlip_autopipe.common.stage_job import StageCalculation, StageParser, copy_file, input_structures
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
    if not isinstance(species, list) or not all(isinstance(s, str) for s in species):
        return f'settings.species must be a list of element symbols, got {species!r}'
    try:
        SelectionConfig.model_validate(data)
    except ValidationError as exc:
        return 'invalid selection settings: ' + '; '.join(validation_messages(exc))
    return None


class SelectionCalculation(StageCalculation):
    """Pick the ``n`` candidates farthest (in SOAP) from the labelled set and from each other."""

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
        return task


class SelectionParser(StageParser):
    """The selection record and copies of the picks, from the job's order and distances."""

    REQUIRED = ('order', 'distances', 'remaining', 'stopped')

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
        parsed = SelectionConfig.model_validate(data)
        threshold = parsed.duplicate_distance
        rank = {key: r for r, key in enumerate(order)}
        records: dict[str, Any] = {}
        selected: dict[str, orm.StructureData] = {}
        for key, node in candidates.items():
            if key in rank:
                distance = result['distances'][rank[key]]
                verdict = 'selected'
                selected[key] = copy_candidate(node, selection={'rank': rank[key], 'distance': distance})
            else:
                distance = result['remaining'].get(key)
                verdict = (
                    'duplicate' if distance is not None and distance <= max(threshold, SAME_DESCRIPTOR) else 'budget'
                )
            records[key] = {
                'uuid': node.uuid,
                'origin': node.base.extras.get('origin', None),
                'verdict': verdict,
                'rank': rank.get(key),
                'distance': distance,
            }
            node.base.extras.set(EXTRA_SELECTION, verdict)
        self.out(
            OUTPUT_SELECTION,
            orm.Dict(
                {
                    'method': 'fps',
                    'order': order,
                    'distances': list(result['distances']),
                    'uuids': [candidates[k].uuid for k in order],
                    'n_requested': result.get('n_requested'),
                    'n_selected': len(order),
                    'n_candidates': len(candidates),
                    'n_labelled': result.get('n_labelled', 0),
                    'stopped': result['stopped'],
                    'species': result.get('species', []),
                    'descriptor': parsed.descriptor.model_dump(mode='json'),
                    'n_features': result.get('n_features'),
                    'candidates': records,
                    'job': result.get('job', {}),
                }
            ),
        )
        if selected:
            self.out(OUTPUT_STRUCTURES, selected)
        return None
