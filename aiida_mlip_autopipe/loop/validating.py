"""The validation at the end of ``ActiveLearningWorkChain``: the final potential against DFT.

Once the loop (and the final refit) is done, the potential is measured where the training did
not look: E–V points, phonon supercells and surface cells labelled by pw.x, the molecule
relaxed by pw.x and by the potential, and a stability MD at the highest exploration
temperature. The cells come from the calcfunction
:func:`~aiida_mlip_autopipe.validation.functions.validation_structures`, the verdict from
:func:`~aiida_mlip_autopipe.validation.functions.analyse_validation`. A failed DFT job is
reported and the comparison goes on without it: validation describes the potential, it does
not fail the run. Like the other step modules this is a mixin of the work chain; it relies on
the work chain's ``cfg``, ``_phase``, ``_inputs_with_structure`` and ``_labelling_inputs``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext

from aiida_mlip_autopipe.exploration.base import LammpsBaseWorkChain
from aiida_mlip_autopipe.exploration.starts import build_md_structures
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain
from aiida_mlip_autopipe.loop import children, records
from aiida_mlip_autopipe.loop.restarts import base_inputs
from aiida_mlip_autopipe.validation.functions import analyse_validation, validation_structures

__all__ = ('ValidationSteps',)


class ValidationSteps:
    """Label the validation cells, relax the molecule, run a stability MD; compare the potential with them."""

    def should_validate(self):
        """Validate the final potential when the loop ended normally and validation is on."""
        return self.ctx.exit_code is None and self.ctx.potential is not None and self.cfg.validation.enabled

    def run_validation(self):
        """Label E–V points, phonon supercells and surface cells with DFT; relax the molecule; run a stability MD."""
        cfg = self.cfg
        self._phase('validation')
        inputs = self._inputs_with_structure(config=self.inputs.config)
        cells = validation_structures(**inputs, metadata={'call_link_label': 'validation_structures'})
        self.ctx.validation_cells = cells['cells']
        self.ctx.validation_molecule = cells.get('molecule')
        labelling = self._labelling_inputs()
        launched = {}
        lines = []
        if cells['structures']:
            labelling.structures = dict(cells['structures'])
            labelling.failure_budget = orm.Float(1.0)
            labelling.clean_workdir = self.inputs.clean_workdir
            labelling.metadata = {'call_link_label': 'label_validation'}
            launched['validation_dft'] = self.submit(LabellingWorkChain, **labelling)
            lines.append(f'LabellingWorkChain<{launched["validation_dft"].pk}> for {len(labelling.structures)} cells')
        # issue 16: pw.x relaxes the molecule once; the potential's relaxation is compared in analyse_validation.
        if self.ctx.validation_molecule is not None and 'dft' in labelling:
            from aiida.plugins import WorkflowFactory

            from aiida_mlip_autopipe.validation.inputs import molecule_relax_inputs

            relax = molecule_relax_inputs(
                labelling['dft'], self.ctx.validation_molecule, cfg.validation.relax_fmax, cfg.dft.conv_thr_per_atom
            )
            launched['validation_relax'] = self.submit(WorkflowFactory('quantumespresso.pw.base'), **relax)
            lines.append(f'PwBaseWorkChain<{launched["validation_relax"].pk}> relaxes the molecule')
        elif self.ctx.validation_molecule is not None:
            lines.append('no DFT relaxation of the molecule (benchmark oracle)')
        inputs = self._inputs_with_structure(config=self.inputs.config, seed=orm.Int(cfg.seed + 99))
        starts = build_md_structures(**inputs, metadata={'call_link_label': 'md_start_validation'})['structures']
        exposed = self.exposed_inputs(LammpsBaseWorkChain, namespace='exploration')
        md_inputs = children.validation_md_inputs(cfg, starts, self.ctx.potential, exposed['lammps']['code'])
        launched['validation_md'] = self.submit(LammpsBaseWorkChain, **base_inputs(exposed, 'lammps', md_inputs))
        lines.append(
            f'stability LammpsBaseWorkChain<{launched["validation_md"].pk}> at '
            f'{md_inputs["settings"]["temperature"]:.0f} K'
        )
        self.report('validation: ' + ', '.join(lines))
        return ToContext(**launched)

    def inspect_validation(self):
        """Compare the potential with DFT on the validation cells (and the relaxed molecule)."""
        from aiida_mlip_autopipe.validation.systems import validation_lines

        cfg = self.cfg
        inputs = {'potential': self.ctx.potential, 'cells': self.ctx.validation_cells}
        dft = self.ctx.get('validation_dft')
        if dft is not None and dft.is_finished_ok:
            inputs['dft_labels'] = dft.outputs.training_set
        elif dft is not None:
            self.report(f'validation: LabellingWorkChain<{dft.pk}> failed [{dft.exit_status}]; comparing without DFT')
        if self.ctx.get('validation_molecule') is not None:
            inputs['molecule'] = self.ctx.validation_molecule
            inputs['settings'] = orm.Dict(
                {
                    'bond_tolerance': cfg.validation.bond_tolerance,
                    'angle_tolerance': cfg.validation.angle_tolerance,
                    'relax_fmax': cfg.validation.relax_fmax,
                }
            )
            relax = self.ctx.get('validation_relax')
            if relax is not None and relax.is_finished_ok:
                inputs['molecule_dft'] = relax.outputs.output_structure
            elif relax is not None:
                self.report(f'validation: PwBaseWorkChain<{relax.pk}> failed [{relax.exit_status}]; no DFT geometry')
        md = self.ctx.validation_md
        if 'summary' in md.outputs:
            inputs['md_summary'] = md.outputs.summary
        inputs['md_status'] = orm.Dict({'exit_status': md.exit_status, 'exit_message': md.exit_message})
        result = analyse_validation(**inputs, metadata={'call_link_label': 'analyse_validation'})
        self.out('validation', result['validation'])
        self.out('validation_curves', result['curves'])
        data = result['validation'].get_dict()
        bulk_line = records.validation_line(data)
        if bulk_line.strip() != 'validation:':
            self.report(bulk_line)
        for line in validation_lines(data):
            self.report(f'validation: {line}')
