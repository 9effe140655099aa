"""``ExtractionCalculation``: uncertain MD frames become the next generation's candidates, as a job.

The inputs are the ``uncertain_frames`` trajectories of the MD runs; every candidate the
parser makes gets a ``CREATE`` link from this job, so the provenance graph leads from each
new DFT label back to the MD run (and potential) that found the environment. Candidates
carry, as attributes, ``force_weights`` (1 for core atoms, ``buffer_weight`` for buffer
atoms; read by ``collect_training_set``), ``parent_trajectory_uuid``, ``parent_frame_index``,
``parent_step``, ``centre_indices`` (in the frame), ``centre_gamma``, ``source_indices``
(frame index of each atom), ``core_indices``, ``extraction_mode``, ``generation`` and
``origin`` ``'gamma-extract'``; the same provenance keys are set as extras, with
``parent_uuid``, so that queries on extras find them.
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.engine import CalcJobProcessSpec, ExitCode

from aiida_mlip_autopipe.candidates.nodes import OUTPUT_STRUCTURES
from aiida_mlip_autopipe.common.stage_job import StageCalculation, StageParser, input_structures
from aiida_mlip_autopipe.data.potential import AcePotentialData

__all__ = ('ORIGIN', 'ExtractionCalculation', 'ExtractionParser', 'extraction_settings')

ORIGIN = 'gamma-extract'


def extraction_settings(settings: dict[str, Any], potential: AcePotentialData | None) -> dict[str, Any]:
    """``settings`` with ``core_radius`` filled from the potential's ACE cutoff when unset."""
    data = dict(settings)
    if data.get('core_radius') is None:
        cutoff = potential.base.attributes.get('cutoff', None) if potential is not None else None
        if cutoff is None:
            raise ValueError('settings has no core_radius and no potential with a cutoff was given')
        data['core_radius'] = float(cutoff)
    return data


def validate_inputs(inputs: dict[str, Any], _: Any = None) -> str | None:
    """There must be trajectories with per-atom gamma, and a core radius (given, or the potential's cutoff)."""
    trajectories = inputs.get('trajectories', {})
    if not trajectories:
        return 'give at least one uncertain_frames trajectory in `trajectories`'
    for key, trajectory in trajectories.items():
        if 'gamma' not in trajectory.get_arraynames():
            return f'trajectories.{key} has no per-atom "gamma" array: is it a LammpsCalculation output?'
    try:
        extraction_settings(inputs['settings'].get_dict(), inputs.get('potential'))
    except ValueError as exc:
        return str(exc)
    return None


class ExtractionCalculation(StageCalculation):
    """Cut high-gamma environments out of MD frames into periodic boxes; the candidates and a summary."""

    TASK_MODULE = 'aiida_mlip_autopipe.exploration.extract_task'

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:
        """Trajectories, seed, the potential (for its cutoff); candidates and the decisions."""
        super().define(spec)
        spec.inputs['settings'].help = 'From ExtractionConfig.settings (core_radius may be unset: the ACE cutoff).'
        spec.input_namespace(
            'trajectories', valid_type=orm.TrajectoryData, dynamic=True, help='`uncertain_frames` of the MD runs.'
        )
        spec.input('seed', valid_type=orm.Int, help='Orders environments of equal gamma; all else is deterministic.')
        spec.input('potential', valid_type=AcePotentialData, required=False, help='The potential the MD ran with.')
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.exploration.extract'
        spec.output('summary', valid_type=orm.Dict, help='Settings, frames read, candidates and every decision.')
        spec.output_namespace(
            OUTPUT_STRUCTURES, valid_type=orm.StructureData, dynamic=True, help='The extracted candidates.'
        )

    def write_inputs(self, folder: Any) -> dict[str, Any]:
        """One ``.npz`` per trajectory; the settings with the core radius resolved."""
        from aiida_mlip_autopipe.exploration.extract_task import write_trajectory

        files = {}
        for key, trajectory in sorted(self.inputs.trajectories.items()):
            filename = f'trajectory_{key}.npz'
            write_trajectory(
                folder.get_abs_path(filename),
                list(trajectory.symbols),
                trajectory.get_positions(),
                trajectory.get_cells(),
                trajectory.get_array('gamma'),
                trajectory.get_stepids(),
                trajectory.base.attributes.get('pbc', (True, True, True)),
            )
            files[key] = filename
        settings = extraction_settings(self.inputs.settings.get_dict(), self.inputs.get('potential'))
        return {'trajectories': files, 'seed': self.inputs.seed.value, 'settings': settings}


def _trajectory_uuids(node: orm.CalcJobNode) -> dict[str, str]:
    return {key: trajectory.uuid for key, trajectory in input_structures(node, 'trajectories').items()}


class ExtractionParser(StageParser):
    """One candidate ``StructureData`` per kept environment, with its lineage; the summary."""

    REQUIRED = ('environments', 'decisions', 'frames', 'environments_found')

    def parse_result(self, result: dict[str, Any]) -> ExitCode | None:
        """``structures`` (``candidate_000``...) and ``summary``."""
        from ase import Atoms

        settings = extraction_settings(
            self.node.inputs.settings.get_dict(), getattr(self.node.inputs, 'potential', None)
        )
        generation = int(settings.get('generation', 0))
        uuids = _trajectory_uuids(self.node)
        structures, candidates = {}, []
        for number, env in enumerate(result['environments']):
            if env['source'] not in uuids:
                return self.exit_codes.ERROR_INCOMPLETE_RESULT.format(error=f'unknown trajectory {env["source"]!r}')
            atoms = Atoms(symbols=env['symbols'], positions=env['positions'], cell=env['cell'], pbc=env['pbc'])
            structure = orm.StructureData(ase=atoms)
            parent_uuid = uuids[env['source']]
            attributes = {
                'force_weights': env['force_weights'],
                'parent_trajectory_uuid': parent_uuid,
                'parent_frame_index': env['frame'],
                'parent_step': env['step'],
                'centre_indices': env['centre_indices'],
                'centre_gamma': env['centre_gamma'],
                'centres_in_structure': env['centres_in_structure'],
                'source_indices': env['source_indices'],
                'core_indices': env['core_indices'],
                'extraction_mode': env['mode'],
                'removed_at_seam': env['removed_at_seam'],
                'generation': generation,
                'origin': ORIGIN,
            }
            structure.base.attributes.set_many(attributes)
            structure.base.extras.set_many(
                {
                    'generation': generation,
                    'origin': ORIGIN,
                    'parent_uuid': parent_uuid,
                    'parent_frame_index': env['frame'],
                    'parent_step': env['step'],
                    'centre_indices': env['centre_indices'],
                    'centre_gamma': env['centre_gamma'],
                    'max_gamma': env['max_gamma'],
                }
            )
            structure.label = f'gamma-extract gen{generation:02d} {env["source"]} frame {env["frame"]}'
            key = f'candidate_{number:03d}'
            structures[key] = structure
            candidates.append(
                {
                    'output': key,
                    'source': env['source'],
                    'frame': env['frame'],
                    'step': env['step'],
                    'mode': env['mode'],
                    'atoms': len(atoms),
                    'core_atoms': len(env['core_indices']),
                    'max_gamma': env['max_gamma'],
                }
            )
        self.out(
            'summary',
            orm.Dict(
                {
                    'settings': settings,
                    'frames': result['frames'],
                    'environments_found': result['environments_found'],
                    'candidates': candidates,
                    'decisions': result['decisions'],
                    'dedup': 'internal: dscribe SOAP of the centres (n_max 6, l_max 4, sigma 0.5 Å)',
                    'job': result.get('job', {}),
                }
            ),
        )
        if structures:
            self.out(OUTPUT_STRUCTURES, structures)
        return None
