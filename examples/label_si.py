"""Label a few Si cells with real pw.x through LabellingWorkChain and print a table.

Run with ``verdi run examples/label_si.py`` (the profile, codes and pseudo family come
from ``bash bin/install``). The cells are 2- and 8-atom diamond Si, strained and
rattled with a fixed seed, so a second run labels the very same structures.
"""

import sys
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.config import load_config
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

# verdi run sets __file__ to the bare file name; argv[0] keeps the path.
config = load_config(Path(sys.argv[0]).resolve().parent / 'si' / 'config.yaml')
rng = np.random.default_rng(config.seed)
structures = {}
for name, atoms in (
    ('prim', bulk('Si', 'diamond', a=config.target.lattice_constant)),
    ('cubic', bulk('Si', 'diamond', a=config.target.lattice_constant, cubic=True)),
):
    for i, strain in enumerate((-0.02, 0.0, 0.03)):
        copy = atoms.copy()
        copy.set_cell(copy.cell * (1 + strain), scale_atoms=True)
        copy.positions += rng.normal(0.0, 0.05, size=copy.positions.shape)
        structures[f'{name}_{i}'] = orm.StructureData(ase=copy)

builder = LabellingWorkChain.get_builder_from_protocol(config.dft.code, structures, dft=config.dft)
results, node = run_get_node(builder)

print(f'\nLabellingWorkChain<{node.pk}> finished with exit status {node.exit_status}')
print(f'{"PK":>6}  {"formula":<8} {"E/atom (eV)":>12} {"max|F| (eV/Å)":>14}  status')
for link in node.base.links.get_outgoing(link_label_filter='label_%').all():
    child = link.node
    key = link.link_label.removeprefix('label_')
    structure = builder.structures[key]
    if child.is_finished_ok:
        energy = child.outputs.output_parameters['energy'] / len(structure.sites)
        forces = child.outputs.output_trajectory.get_array('forces')[-1]
        fmax = float(np.linalg.norm(forces, axis=1).max())
        print(f'{child.pk:>6}  {structure.get_formula():<8} {energy:>12.4f} {fmax:>14.3f}  ok')
    else:
        print(f'{child.pk:>6}  {structure.get_formula():<8} {"-":>12} {"-":>14}  failed [{child.exit_status}]')
if 'training_set' in results:
    print(f'\nTraining set<{results["training_set"].pk}>: {results["training_set"].num_frames} frames')
print('\nLook further:')
print('  verdi process list -a -p 1')
print(f'  verdi process show {node.pk}')
print(f'  verdi process report {node.pk}')
print(f'  verdi node graph generate {node.pk}')
