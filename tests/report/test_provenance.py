"""The report's provenance figure: the steps a run called, with PKs, and an arrow where an output became an input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aiida import orm
from aiida.common.links import LinkType
from plumpy import ProcessState

from aiida_mlip_autopipe.report import provenance
from aiida_mlip_autopipe.report.collect import RunData
from aiida_mlip_autopipe.report.document import _provenance_figure
from aiida_mlip_autopipe.report.provenance import provenance_dot, provenance_steps, write_provenance_png

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _step(caller, label, process_label, inputs=None, outputs=None, exit_status=0, workflow=False):
    """A finished process called by ``caller`` as ``label``: inputs linked in, outputs created (or returned)."""
    node = orm.WorkflowNode() if workflow else orm.CalcFunctionNode()
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    node.set_process_label(process_label)
    for name, data in (inputs or {}).items():
        link = LinkType.INPUT_WORK if workflow else LinkType.INPUT_CALC
        node.base.links.add_incoming(data, link_type=link, link_label=name)
    call = LinkType.CALL_WORK if workflow else LinkType.CALL_CALC
    node.base.links.add_incoming(caller, link_type=call, link_label=label)
    node.store()
    for name, data in (outputs or {}).items():
        if workflow:  # a work chain returns what its children created
            data.base.links.add_incoming(node, link_type=LinkType.RETURN, link_label=name)
        else:
            data.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=name)
            data.store()
    return node


@pytest.fixture
def run(aiida_profile):
    """A run of two generations: generate -> label (a work chain) -> train -> MD (failed); the next fit warm-starts."""
    node = orm.WorkflowNode(label='tiny')
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(0)
    node.set_process_label('ActiveLearningWorkChain')
    node.store()
    cells = {
        'c0': orm.StructureData(cell=[[3, 0, 0], [0, 3, 0], [0, 0, 3]]),
        'c1': orm.StructureData(cell=[[4, 0, 0], [0, 4, 0], [0, 0, 4]]),
    }
    generate = _step(node, 'generate_gen00', 'generate_candidates', outputs=cells)
    labels = _step(
        node, 'label_gen00', 'LabellingWorkChain', {f'structures__{k}': v for k, v in cells.items()}, workflow=True
    )
    training_set = orm.Dict({'frames': 2})
    _step(labels, 'collect', 'collect_training_set', outputs={'result': training_set})
    training_set.base.links.add_incoming(labels, link_type=LinkType.RETURN, link_label='training_set')
    labels.seal()
    potential = orm.Dict({'fit': 0})
    train = _step(node, 'train_gen00', 'PacemakerCalculation', {'training_set': training_set}, {'potential': potential})
    md = _step(node, 'md_gen00_T900_md0000', 'LammpsCalculation', {'potential': potential}, {'dump': orm.Dict()}, 401)
    later = _step(
        node, 'train_gen01', 'PacemakerCalculation', {'initial_potential': potential, 'training_set': training_set}
    )
    node.seal()
    return node, {'generate': generate, 'label': labels, 'train': train, 'md': md, 'later': later}


def test_steps_and_what_fed_them(run):
    node, steps = run
    found = {step.link_label: step for step in provenance_steps(node)}
    assert set(found) == {'generate_gen00', 'label_gen00', 'train_gen00', 'md_gen00_T900_md0000', 'train_gen01'}
    assert found['label_gen00'].inputs_from == {steps['generate'].pk: {'structures': 2}}
    assert found['train_gen00'].inputs_from == {steps['label'].pk: {'training_set': 1}}  # returned by the work chain
    assert found['md_gen00_T900_md0000'].inputs_from == {steps['train'].pk: {'potential': 1}}
    assert found['md_gen00_T900_md0000'].outcome == 'failed'
    assert found['train_gen01'].group == 'generation 1'
    assert found['generate_gen00'].inputs_from == {}  # its inputs came from outside the run
    assert found['label_gen00'].children == {'collect_training_set': 1}


def test_dot_source(run):
    node, steps = run
    dot = provenance_dot(node)
    assert dot.startswith('digraph provenance {')
    assert f'ActiveLearningWorkChain<{node.pk}> tiny: finished [0]' in dot
    assert f'label_gen00\\nLabellingWorkChain<{steps["label"].pk}>\\n1 × collect_training_set' in dot
    assert f's{steps["generate"].pk} -> s{steps["label"].pk} [label="structures ×2"];' in dot
    assert f's{steps["label"].pk} -> s{steps["train"].pk} [label="training_set"];' in dot
    # The failed MD says so, in red; the warm start across generations is dashed.
    md = next(line for line in dot.splitlines() if line.strip().startswith(f's{steps["md"].pk} ['))
    assert 'finished [401]' in md and '#f8d0d0' in md
    cross = next(
        line for line in dot.splitlines() if line.strip().startswith(f's{steps["train"].pk} -> s{steps["later"].pk}')
    )
    assert 'initial_potential' in cross and 'style=dashed' in cross
    assert f'-> s{steps["generate"].pk} ' not in dot  # nothing fed the first step
    assert dot.count('subgraph cluster_') == 2


@pytest.mark.skipif(shutil.which('dot') is None, reason="graphviz's dot is not installed (apt-get install graphviz)")
def test_png_is_a_png(run, tmp_path):
    node, _ = run
    path = write_provenance_png(node, tmp_path / 'provenance.png')
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / 'provenance.dot').read_text(encoding='utf-8') == provenance_dot(node)


def test_without_graphviz_the_report_says_why(run, tmp_path, monkeypatch):
    node, _ = run
    monkeypatch.setattr(provenance.shutil, 'which', lambda name: None)
    with pytest.raises(FileNotFoundError, match='apt-get install graphviz'):
        write_provenance_png(node, tmp_path / 'provenance.png')
    data = RunData(node.pk, 'tiny', 'finished', 0, None, {}, [], None, None, None)
    assert 'apt-get install graphviz' in _provenance_figure(data, tmp_path)
    assert not (tmp_path / 'provenance.png').exists()


@pytest.mark.skipif(shutil.which('dot') is None, reason="graphviz's dot is not installed (apt-get install graphviz)")
def test_a_layout_dot_refuses_is_drawn_with_every_edge_ranked(run, tmp_path, monkeypatch):
    """The Si demo's figure at PK 4027: Debian's graphviz 2.43 fails on it as it is ('trouble in init_rank')."""
    source = (Path(__file__).parent.parent / 'fixtures' / 'report' / 'init_rank.dot').read_text(encoding='utf-8')
    as_is = subprocess.run(
        ['dot', '-Tpng', '-o', str(tmp_path / 'as_is.png')], input=source, text=True, check=False, capture_output=True
    )
    node, _ = run
    monkeypatch.setattr(provenance, 'provenance_dot', lambda _node: source)
    path = write_provenance_png(node, tmp_path / 'provenance.png')
    assert path.read_bytes()[:8] == PNG_MAGIC
    written = (tmp_path / 'provenance.dot').read_text(encoding='utf-8')
    if as_is.returncode != 0:  # graphviz 2.43: the figure comes from the second try
        assert 'trouble in init_rank' in as_is.stderr
        assert 'constraint=false' not in written and 'weight=0' in written
    else:  # a graphviz without the bug draws it as it is
        assert written == source


def test_when_dot_fails_the_error_is_short(run, tmp_path, monkeypatch):
    node, _ = run
    rank_dump = 'Error: trouble in init_rank\n' + '\t%0 4\n' * 300
    calls = []

    def failing(*args, **kwargs):
        calls.append(kwargs['input'])
        return subprocess.CompletedProcess(args=['dot'], returncode=1, stdout='', stderr=rank_dump)

    monkeypatch.setattr(provenance.shutil, 'which', lambda name: '/usr/bin/dot')
    monkeypatch.setattr(provenance.subprocess, 'run', failing)
    with pytest.raises(RuntimeError) as error:
        write_provenance_png(node, tmp_path / 'provenance.png')
    assert 'trouble in init_rank' in str(error.value) and len(str(error.value)) < 120
    assert len(calls) == 2 and 'constraint=false' in calls[0] and 'constraint=false' not in calls[1]
