"""Every stage on a non-bulk structure (issue 16): an Al(111) slab loop labelled by the EMT benchmark oracle.

Candidates (slabs, in-plane strain, rattle, adatoms), selection, labels (EMT, NOT DFT), real pacemaker
fits on slab frames without stress, real LAMMPS MD in the padded slab box, extraction of slab cut-outs,
and the validation's surface energy against the oracle. About a minute and a half on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from aiida import orm

pytestmark = [pytest.mark.integration]

CONFIG = Path(__file__).parent / 'configs' / 'al111_emt.yaml'


def _oracle_key() -> str:
    from aiida_mlip_autopipe.config import MLIPConfig

    return 'benchmark' if 'benchmark' in MLIPConfig.model_fields else 'dft'


def test_al111_slab_loop_runs_every_stage_and_validates_the_surface_energy(codes_from_setup, tmp_path):
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.candidates.kinds import structure_kind
    from aiida_mlip_autopipe.config import parse_config
    from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain
    from aiida_mlip_autopipe.report.collect import collect_run
    from aiida_mlip_autopipe.report.document import write_report

    missing = {'pacemaker', 'lammps'} - set(codes_from_setup)
    if missing:
        pytest.skip(f'codes not installed: {sorted(missing)}')
    data = yaml.safe_load(CONFIG.read_text(encoding='utf-8'))
    data.setdefault(_oracle_key(), {})['oracle'] = 'emt'
    config = parse_config(data)
    builder = ActiveLearningWorkChain.get_builder_from_protocol(config, codes=codes_from_setup, protocol='fast')
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    # Candidates: slabs only, with their periodicity.
    generated = next(
        c for c in node.called if c.base.links.get_incoming().all() and c.process_label == 'generate_candidates'
    )
    structures = list(generated.outputs.structures.values())
    assert structures and {s.base.extras.get('kind') for s in structures} == {'surface'}
    assert {s.pbc for s in structures} == {(True, True, True)}  # periodic boxes with vacuum
    assert {'surface', 'strain', 'rattle', 'adatom'} <= {s.base.extras.get('origin') for s in structures}

    # The fit saw slab frames without stress.
    frames = results['training_set'].get_frames()
    assert frames and all(structure_kind(f) == 'surface' for f in frames)
    frame = results['training_set'].to_dataframe(weights=True)
    assert 'stress' not in frame.columns or frame['stress'].isna().all()
    assert results['potential'].has_active_set

    # MD ran on the padded slab; what it found came back as slab cut-outs.
    history = results['history']['generations']
    assert history[0]['md_steps'] > 0 if 'md_steps' in history[0] else True
    md_starts = [c for c in node.called if c.process_label == 'build_md_structures']
    start = next(iter(md_starts[0].outputs.structures.values()))
    assert start.base.attributes.get('kind') == 'surface' and start.pbc == (True, True, True)
    extracted = [
        s
        for s in orm.QueryBuilder().append(orm.StructureData, filters={'extras.origin': 'gamma-extract'}).all(flat=True)
        if s.base.extras.get('parent_uuid')
        in {c.outputs.uncertain_frames.uuid for c in node.called if 'uncertain_frames' in c.outputs}
    ]
    assert extracted and all(structure_kind(s.get_ase()) == 'surface' for s in extracted)

    # Validation: the surface energy of the potential against the oracle's, with a verdict.
    validation = results['validation'].get_dict()
    assert 'ev' not in validation  # no bulk in this target
    (surface,) = validation['surfaces']
    assert surface['miller'] == [1, 1, 1]
    assert np.isfinite(surface['ace']) and np.isfinite(surface['dft'])
    assert 0.2 < surface['dft'] < 1.5  # EMT's Al(111), J/m²
    assert surface['passed'] == (abs(surface['ace'] - surface['dft']) <= 0.5)
    assert validation['md']['steps_run'] > 0
    lines = [log.message for log in orm.Log.collection.get_logs_for(node)]
    assert any('validation: surface (1 1 1) energy ACE' in line for line in lines)
    report = write_report(collect_run(node), tmp_path).read_text()
    assert 'surface (1 1 1)' in report
    print(
        f'\nAl(111) EMT loop: {len(history)} generations, {len(frames)} labels, surface energy ACE '
        f'{surface["ace"]:.3f} / oracle {surface["dft"]:.3f} J/m²'
    )
