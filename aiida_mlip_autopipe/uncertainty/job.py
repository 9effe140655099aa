"""The uncertainty jobs: pool scoring and gamma calibration on the current potential, off the daemon worker.

``ScoringCalculation`` gives every unlabelled candidate its largest extrapolation grade
under the current potential and copies those above the threshold (they rejoin the
selection); ``CalibrationCalculation`` compares the gamma the previous potential gave the
newly labelled frames with its real force error there (see
:mod:`~aiida_mlip_autopipe.uncertainty.calibration`). Both load pyace on the potential's
B-basis YAML and active set in the job (:mod:`~aiida_mlip_autopipe.uncertainty.task`), and
their ``Dict`` outputs are the numbers the loop decides on, linked to the potential and
labels they were computed from.
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import CalcJobProcessSpec, ExitCode

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES, copy_candidate
from aiida_mlip_autopipe.common.stage_job import StageCalculation, StageParser, copy_file, copy_folder, input_structures
from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData

__all__ = (
    'CalibrationCalculation',
    'CalibrationParser',
    'EvaluationCalculation',
    'EvaluationParser',
    'ScoringCalculation',
    'ScoringParser',
)

POTENTIAL_FOLDER = 'potential'


def validate_potential(value: AcePotentialData | None, _: Any = None) -> str | None:
    """Gamma needs the active set: a potential without one cannot score anything."""
    if value is not None and not value.has_active_set:
        return f'potential<{value.pk}> has no active set (potential.asi): extrapolation grades cannot be computed'
    return None


def _validate_keys(required: tuple[str, ...]):
    def validator(value: orm.Dict | None, _: Any = None) -> str | None:
        if value is None:
            return None
        missing = [key for key in required if key not in value.get_dict()]
        return f'settings is missing {", ".join(missing)}' if missing else None

    return validator


class _PotentialJob(StageCalculation):
    """A job on the current potential (its files go with the job)."""

    TASK_MODULE = 'aiida_mlip_autopipe.uncertainty.task'
    KIND = ''

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """The potential input (with its active set)."""
        super().define(spec)
        spec.input(
            'potential', valid_type=AcePotentialData, validator=validate_potential, help='Potential with active set.'
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """The kind of task and the potential's files."""
        return {'kind': self.KIND, 'potential': copy_folder(self.inputs.potential, folder, POTENTIAL_FOLDER)}


class ScoringCalculation(_PotentialJob):
    """Max gamma of every candidate under the potential; copies of those above ``settings.gamma_threshold``."""

    KIND = 'score'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """Scores of every candidate and copies of the uncertain ones."""
        super().define(spec)
        spec.inputs['settings'].validator = _validate_keys(('gamma_threshold',))
        spec.inputs['settings'].help = '`gamma_threshold`: candidates above it are uncertain.'
        spec.inputs['structures'].required = True
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.uncertainty.score'
        spec.output('scores', valid_type=orm.Dict, help='Per candidate: max gamma and whether it is uncertain.')
        spec.output_namespace(
            OUTPUT_STRUCTURES, valid_type=orm.StructureData, dynamic=True, help='Copies of the uncertain candidates.'
        )


class ScoringParser(StageParser):
    """Scores and copies of the uncertain candidates, each carrying its ``max_gamma``."""

    REQUIRED = ('scores', 'gamma_threshold')

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``scores`` and ``structures`` outputs."""
        candidates = input_structures(self.node)
        scores = result['scores']
        missing = sorted(set(candidates) - set(scores))
        if missing:
            return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error=f'no score for {missing[:5]}')
        records, uncertain = {}, {}
        for key, node in candidates.items():
            gamma = float(scores[key]['max_gamma'])
            records[key] = {'uuid': node.uuid, 'max_gamma': gamma, 'uncertain': bool(scores[key]['uncertain'])}
            if records[key]['uncertain']:
                copy = copy_candidate(node, max_gamma=gamma)
                copy.base.extras.set('max_gamma', gamma)
                uncertain[key] = copy
        self.out(
            'scores',
            orm.Dict(
                {
                    'gamma_threshold': result['gamma_threshold'],
                    'n_candidates': len(candidates),
                    'n_uncertain': len(uncertain),
                    'candidates': records,
                    'job': result.get('job', {}),
                }
            ),
        )
        if uncertain:
            self.out(OUTPUT_STRUCTURES, uncertain)
        return None


class CalibrationCalculation(_PotentialJob):
    """Gamma of ``potential`` on newly labelled frames against its real force error there."""

    KIND = 'calibrate'
    FILENAME_LABELS = 'labels.extxyz'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """The labels and the calibration record."""
        super().define(spec)
        spec.inputs['settings'].validator = _validate_keys(('gamma_lower', 'bounds', 'error_target', 'adjust'))
        spec.inputs['settings'].help = '`gamma_lower` (current threshold), `bounds`, `error_target` (eV/Å), `adjust`.'
        spec.input('labels', valid_type=TrainingSetData, help='Frames labelled by DFT that the potential never saw.')
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.uncertainty.calibrate'
        spec.output(
            'calibration',
            valid_type=orm.Dict,
            help='Spearman(gamma, |dF|), mean error per gamma bin, measured threshold, gamma_lower before/after.',
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """The potential's files and the labelled frames."""
        task = super().write_inputs(folder)
        task['labels'] = copy_file(self.inputs.labels, folder, self.FILENAME_LABELS)
        return task


class CalibrationParser(StageParser):
    """The calibration record as a ``Dict``."""

    REQUIRED = ('calibration',)

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``calibration`` output."""
        calibration = result['calibration']
        if 'gamma_lower_after' not in calibration:
            return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error='no gamma_lower_after')
        self.out('calibration', orm.Dict({**calibration, 'job': result.get('job', {})}))
        return None


class EvaluationCalculation(StageCalculation):
    """Energy and force errors of several potentials on the same labelled frames (the run's held-out set)."""

    TASK_MODULE = 'aiida_mlip_autopipe.uncertainty.task'
    FILENAME_LABELS = 'labels.extxyz'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """Potentials by key and the labels; errors per potential."""
        super().define(spec)
        spec.inputs['settings'].required = False
        spec.input_namespace('potentials', valid_type=AcePotentialData, dynamic=True, help='Potentials by key.')
        spec.input('labels', valid_type=TrainingSetData, help='Labelled frames none of the potentials was fitted to.')
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.uncertainty.evaluate'
        spec.output(
            'errors',
            valid_type=orm.Dict,
            help='Per potential: energy RMSE (meV/atom, DFT total energies) and force RMSE (meV/Å), per frame too.',
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """Each potential's files and reference energies; the labels."""
        potentials = {
            key: {
                'folder': copy_folder(potential, folder, f'potential_{key}'),
                'reference_energy': potential.reference_energy,
            }
            for key, potential in sorted(self.inputs.potentials.items())
        }
        return {
            'kind': 'evaluate',
            'potentials': potentials,
            'labels': copy_file(self.inputs.labels, folder, self.FILENAME_LABELS),
        }


class EvaluationParser(StageParser):
    """The errors of every potential as one ``Dict``."""

    REQUIRED = ('errors',)

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``errors`` output."""
        self.out('errors', orm.Dict({**result['errors'], 'job': result.get('job', {})}))
        return None
