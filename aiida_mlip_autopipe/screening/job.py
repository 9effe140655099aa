"""``ScreeningCalculation``: the universal-model screen as a job, off the daemon worker.

The job (:mod:`~aiida_mlip_autopipe.screening.task`) evaluates the candidates with the
model; the parser turns its verdicts into the ``verdicts`` ``Dict`` (one record per input
candidate: kept or rejected, and the number that decided it) and the kept candidates into
new ``StructureData`` nodes with the same keys and lineage plus ``candidate_uuid``
(:func:`~aiida_mlip_autopipe.candidates.nodes.copy_candidate`), exactly what the
calcfunction of earlier versions returned. A MACE model file is an input node
(``SinglefileData``), so the provenance holds the exact model that screened.

Typical use from a work chain (``config`` an ``MLIPConfig``)::

    builder = ScreeningCalculation.get_builder()
    builder.code = load_code('mlip-python@localhost')
    builder.model = model_input(config.screening.model)
    builder.settings = screening_settings(config)
    builder.structures = candidates
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import CalcJobProcessSpec, ExitCode

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, copy_candidate
from aiida_mlip_autopipe.common.stage_job import StageCalculation, StageParser, copy_file, input_structures

__all__ = (
    'EXTRA_SCREENING',
    'OUTPUT_VERDICTS',
    'ScreeningCalculation',
    'ScreeningParser',
    'model_input',
    'screening_settings',
)

OUTPUT_VERDICTS = 'verdicts'
#: Extra set on each input candidate ('kept' or 'rejected:<reason>'); the ``verdicts`` Dict is the record.
EXTRA_SCREENING = 'screening_verdict'
FILENAME_REFERENCES = 'references.extxyz'
#: Model names that need no file (everything else is a MACE model file).
MODEL_NAMES = ('chgnet', 'none')


def _is_named_model(name: str) -> bool:
    return name in MODEL_NAMES or name.startswith('mace_mp:')


def screening_settings(config: Any) -> orm.Dict:
    """The ``settings`` of ``ScreeningCalculation``: the ``screening`` section of an ``MLIPConfig`` (or dict)."""
    from aiida_mlip_autopipe.config import MLIPConfig

    parsed = config if isinstance(config, MLIPConfig) else MLIPConfig.model_validate(dict(config))
    return orm.Dict(parsed.screening.model_dump(mode='json'))


def model_input(model: str) -> orm.Data:
    """The ``model`` input from ``screening.model``: a ``Str`` for a name, a ``SinglefileData`` for a MACE file."""
    from pathlib import Path

    if _is_named_model(model):
        return orm.Str(model)
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'screening model file {model!r} not found')
    return orm.SinglefileData(path.resolve())


def validate_model(value: orm.Data | None, _: Any = None) -> str | None:
    """A ``Str`` must name a known model; a file must be a ``SinglefileData`` (so provenance records it)."""
    if isinstance(value, orm.Str) and not _is_named_model(value.value):
        return (
            f'model {value.value!r}: give a MACE model file as SinglefileData (so provenance records it), or one of '
            "'mace_mp:small|medium|large', 'chgnet', 'none'"
        )
    return None


def validate_settings(value: orm.Dict | None, _: Any = None) -> str | None:
    """Why ``settings`` is not a valid ``screening`` section, or None."""
    if value is None:
        return None
    from pydantic import ValidationError

    from aiida_mlip_autopipe.common.errors import validation_messages
    from aiida_mlip_autopipe.screening.config import ScreeningConfig

    try:
        ScreeningConfig.model_validate(value.get_dict())
    except ValidationError as exc:
        return 'invalid screening settings: ' + '; '.join(validation_messages(exc))
    return None


class ScreeningCalculation(StageCalculation):
    """Screen candidates with a MACE or CHGNet model (or geometry alone); verdicts and copies of the kept ones."""

    TASK_MODULE = 'aiida_mlip_autopipe.screening.task'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """The model input, the verdicts and the kept candidates."""
        super().define(spec)
        spec.inputs['settings'].validator = validate_settings
        spec.inputs['settings'].help = 'The `screening` section (max_force, energy_window, min_distance_factor, ...).'
        spec.inputs['structures'].required = True
        spec.input(
            'model',
            valid_type=(orm.SinglefileData, orm.Str),
            validator=validate_model,
            help="A MACE model file, or 'mace_mp:small|medium|large', 'chgnet', 'none' (geometry check only).",
        )
        spec.input_namespace(
            'references',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='The target phase: unperturbed base structures whose model energies set the reference of '
            '`energy_above_phase` (evaluated, never screened).',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.screening'
        spec.output(OUTPUT_VERDICTS, valid_type=orm.Dict, help='Per candidate: kept or rejected, and why.')
        spec.output_namespace(
            OUTPUT_STRUCTURES, valid_type=orm.StructureData, dynamic=True, help='Copies of the kept candidates.'
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """The model (its name, or the model file itself next to the task) and the phase references."""
        from aiida_mlip_autopipe.common.task import write_structures

        task: dict[str, Any] = {}
        references = dict(self.inputs.get('references', {}) or {})
        if references:
            write_structures(
                folder.get_abs_path(FILENAME_REFERENCES), {k: n.get_ase() for k, n in sorted(references.items())}
            )
            task['references'] = FILENAME_REFERENCES
        model = self.inputs.model
        if isinstance(model, orm.Str):
            return {**task, 'model': {'name': model.value}}
        return {**task, 'model': {'file': copy_file(model, folder, f'model_{model.filename}')}}


class ScreeningParser(StageParser):
    """Verdicts from the job's result; kept candidates copied with their screening numbers."""

    REQUIRED = ('verdicts', 'model')

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``verdicts`` and ``structures`` outputs; each input candidate gets the ``screening_verdict`` extra."""
        candidates = input_structures(self.node)
        verdicts = result['verdicts']
        missing = sorted(set(candidates) - set(verdicts))
        if missing:
            return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error=f'no verdict for {missing[:5]}')
        from aiida_mlip_autopipe.screening.config import ScreeningConfig

        settings = ScreeningConfig.model_validate(self.node.inputs.settings.get_dict())
        model = dict(result['model'])
        if isinstance(self.node.inputs.model, orm.SinglefileData):
            model.update({'node_uuid': self.node.inputs.model.uuid, 'filename': self.node.inputs.model.filename})
        records: dict[str, Any] = {}
        counts: dict[str, int] = {}
        kept: dict[str, orm.StructureData] = {}
        for key, node in candidates.items():
            verdict = verdicts[key]
            records[key] = {'uuid': node.uuid, 'origin': node.base.extras.get('origin', None), **verdict}
            counts[verdict['reason']] = counts.get(verdict['reason'], 0) + 1
            node.base.extras.set(EXTRA_SCREENING, 'kept' if verdict['kept'] else f'rejected:{verdict["reason"]}')
            if verdict['kept']:
                kept[key] = copy_candidate(
                    node, screening={'energy_per_atom': verdict['energy_per_atom'], 'max_force': verdict['max_force']}
                )
        self.out(
            OUTPUT_VERDICTS,
            orm.Dict(
                {
                    'model': model,
                    'thresholds': {
                        'max_force': settings.max_force,
                        'energy_window': settings.energy_window,
                        'min_distance_factor': settings.min_distance_factor,
                        'energy_above_phase': settings.energy_above_phase,
                    },
                    'n_references': len(input_structures(self.node, 'references')),
                    'n_candidates': len(candidates),
                    'n_kept': len(kept),
                    'counts_by_reason': counts,
                    'candidates': records,
                    'job': result.get('job', {}),
                }
            ),
        )
        if kept:
            self.out(OUTPUT_STRUCTURES, kept)
        return None
