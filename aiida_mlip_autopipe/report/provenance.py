"""The run's provenance as one readable figure: each step the run called, with its PK, and what fed what.

``verdi node graph generate`` draws every node of a run (thousands, minutes to lay out). This
figure draws only the processes the work chain called (generation, screening, selection,
labelling, merge, calibration, fit, MD, extraction, validation), grouped by generation, with an
arrow from one step to another where an output of the first is an input of the second, labelled
with the input's name. It is read from four queries and laid out by graphviz ``dot`` in about a
second.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ('ProvenanceStep', 'provenance_dot', 'provenance_steps', 'write_provenance_png')

_GEN = re.compile(r'_gen(\d+)')
_VALIDATION = 'validation'
_COLOURS = {'ok': '#d9f2d9', 'failed': '#f8d0d0', 'running': '#fff2b3'}


@dataclass
class ProvenanceStep:
    """One process called by the run, with the steps whose outputs it took as inputs."""

    pk: int
    link_label: str
    process_label: str
    state: str
    exit_status: int | None
    group: str
    children: Counter = field(default_factory=Counter)
    inputs_from: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def outcome(self) -> str:
        """``ok``, ``failed`` or ``running``."""
        if self.state not in ('finished', 'excepted', 'killed'):
            return 'running'
        return 'ok' if self.state == 'finished' and self.exit_status == 0 else 'failed'


#: Namespaces of restart work chains around one calculation: the edge shows the input inside them.
_WRAPPED = ('pacemaker', 'lammps', 'pw')


def _input_name(link_label: str) -> str:
    """``training_set`` for ``pacemaker__training_set``; ``structures`` for ``structures__c01``."""
    parts = link_label.split('__')
    return parts[1] if len(parts) > 1 and parts[0] in _WRAPPED else parts[0]


def _group_of(link_label: str) -> str:
    match = _GEN.search(link_label)
    if match:
        return f'generation {int(match.group(1))}'
    return _VALIDATION if _VALIDATION in link_label else 'run'


def provenance_steps(node) -> list[ProvenanceStep]:
    """The processes called by ``node`` and, for each, which of them produced its inputs."""
    from aiida import orm
    from aiida.common.links import LinkType

    calls = (LinkType.CALL_CALC.value, LinkType.CALL_WORK.value)
    query = orm.QueryBuilder()
    query.append(orm.ProcessNode, filters={'id': node.pk}, tag='run')
    query.append(
        orm.ProcessNode,
        with_incoming='run',
        edge_filters={'type': {'in': calls}},
        edge_project='label',
        project=['id', 'attributes.process_label', 'attributes.process_state', 'attributes.exit_status'],
        tag='step',
    )
    steps: dict[int, ProvenanceStep] = {}
    for row in query.dict():
        label, step = row['run--step']['label'], row['step']
        pk = step['id']
        steps[pk] = ProvenanceStep(
            pk,
            label,
            step['attributes.process_label'] or '?',
            step['attributes.process_state'] or 'created',
            step['attributes.exit_status'],
            _group_of(label),
        )
    if not steps:
        return []
    ids = list(steps)
    # What each step made: data it created (calculations) or returned (work chains).
    made = orm.QueryBuilder()
    made.append(orm.ProcessNode, filters={'id': {'in': ids}}, project='id', tag='step')
    made.append(
        orm.Data,
        with_incoming='step',
        edge_filters={'type': {'in': (LinkType.CREATE.value, LinkType.RETURN.value)}},
        project='id',
    )
    producer = {data: step for step, data in made.all()}
    # What each step took.
    took = orm.QueryBuilder()
    took.append(orm.ProcessNode, filters={'id': {'in': ids}}, project='id', tag='step')
    took.append(
        orm.Data,
        with_outgoing='step',
        edge_filters={'type': {'in': (LinkType.INPUT_CALC.value, LinkType.INPUT_WORK.value)}},
        edge_project='label',
        project='id',
        tag='data',
    )
    for row in took.dict():
        step, data, link_label = row['step']['id'], row['data']['id'], row['step--data']['label']
        source = producer.get(data)
        if source is not None and source != step:
            steps[step].inputs_from[source][_input_name(link_label)] += 1
    # The processes inside a work chain step (e.g. the pw.x runs of a labelling), counted by kind.
    inner = orm.QueryBuilder()
    inner.append(orm.ProcessNode, filters={'id': {'in': ids}}, project='id', tag='step')
    inner.append(
        orm.ProcessNode,
        with_incoming='step',
        edge_filters={'type': {'in': calls}},
        project='attributes.process_label',
    )
    for step, process_label in inner.all():
        steps[step].children[process_label] += 1
    return sorted(steps.values(), key=lambda s: s.pk)


def _quote(text: str) -> str:
    return '"' + text.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def _group_key(group: str) -> tuple[int, int]:
    if group.startswith('generation '):
        return (1, int(group.split()[1]))
    return (2, 0) if group == _VALIDATION else (3, 0)


def provenance_dot(node, title: str | None = None) -> str:
    """The graphviz ``dot`` source of the figure for the run ``node``."""
    steps = provenance_steps(node)
    state = node.process_state.value if node.process_state else 'unknown'
    exit_text = f' [{node.exit_status}]' if node.exit_status is not None else ''
    heading = title or f'{node.process_label}<{node.pk}> {node.label}: {state}{exit_text}'
    lines = [
        'digraph provenance {',
        f'  graph [label={_quote(heading)}, labelloc=t, fontsize=16, fontname="Helvetica", rankdir=TB, '
        'nodesep=0.25, ranksep=0.35, newrank=true];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333"];',
    ]
    by_group: dict[str, list[ProvenanceStep]] = defaultdict(list)
    for step in steps:
        by_group[step.group].append(step)
    for index, group in enumerate(sorted(by_group, key=_group_key)):
        members = by_group[group]
        lines.append(f'  subgraph cluster_{index} {{')
        lines.append(f'    label={_quote(group)}; style="rounded"; color="#888888"; fontsize=13;')
        for step in members:
            text = f'{step.link_label}\n{step.process_label}<{step.pk}>'
            if step.exit_status not in (None, 0) or step.outcome != 'ok':
                text += f'\n{step.state}' + (f' [{step.exit_status}]' if step.exit_status is not None else '')
            if step.children:
                text += '\n' + ', '.join(f'{n} × {label}' for label, n in sorted(step.children.items()))
            lines.append(f'    s{step.pk} [label={_quote(text)}, fillcolor="{_COLOURS[step.outcome]}"];')
        lines.append('  }')
    groups = {step.pk: step.group for step in steps}
    for step in steps:
        for source, names in sorted(step.inputs_from.items()):
            label = ', '.join(f'{name} ×{n}' if n > 1 else name for name, n in sorted(names.items()))
            across = groups.get(source) != step.group
            # From an earlier generation (potential, pool, labels): light, and no pull on the layout.
            style = ', style=dashed, constraint=false, color="#9a9a9a", fontcolor="#7a7a7a"' if across else ''
            lines.append(f'  s{source} -> s{step.pk} [label={_quote(label)}{style}];')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _pinned(source: str) -> str:
    """``source`` with the cross-generation edges kept in the ranking, though with no pull (``weight=0``).

    graphviz 2.43 (Debian 12) fails on some runs with ``trouble in init_rank`` when edges between
    clusters carry ``constraint=false`` (seen on the Si demo at PK 4027, not at PK 49). Those edges
    always point from an earlier generation to a later one, so ranking them costs only a wider figure.
    """
    return source.replace(', constraint=false', ', weight=0')


def write_provenance_png(node, path: str | Path, timeout: float = 60.0) -> Path:
    """Lay out :func:`provenance_dot` with graphviz ``dot`` into the PNG ``path``; return it.

    A layout that ``dot`` refuses is tried once more with every edge ranked (:func:`_pinned`).
    Raises ``FileNotFoundError`` when graphviz is not installed and ``RuntimeError`` when ``dot`` fails.
    """
    path = Path(path)
    dot = shutil.which('dot')
    if dot is None:
        raise FileNotFoundError("graphviz's `dot` is not installed (apt-get install graphviz)")
    source = provenance_dot(node)
    pinned = _pinned(source)
    for attempt in (source, pinned) if pinned != source else (source,):
        result = subprocess.run(
            [dot, '-Tpng', '-Gdpi=96', '-o', str(path)],
            input=attempt,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode == 0 and path.is_file():
            path.with_suffix('.dot').write_text(attempt, encoding='utf-8')
            return path
    # dot's own first lines say what went wrong; the rest is its rank dump, hundreds of lines.
    reason = '; '.join(result.stderr.strip().splitlines()[:2])
    raise RuntimeError(f'dot failed (exit {result.returncode}): {reason}')
