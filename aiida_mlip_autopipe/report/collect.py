"""Gather what a run did from its nodes: history, children per generation, DFT cost, MD gamma.

Works on a finished run (its ``history`` output) and on a running one (the progress
extra the work chain keeps up to date), so ``status`` and ``report`` share one source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiida import orm
from aiida.common.links import LinkType

from aiida_mlip_autopipe.common.names import PROGRESS_EXTRA

__all__ = ('RunData', 'collect_run')

_GEN = re.compile(r'_gen(\d+)')


@dataclass
class RunData:
    """Everything the status view and the report need, with the PKs it came from."""

    pk: int
    label: str
    state: str
    exit_status: int | None
    exit_message: str | None
    config: dict[str, Any]
    history: list[dict[str, Any]]
    phase: str | None
    stop: dict[str, Any] | None
    gamma_lower: float | None
    fits: dict[int, orm.CalcJobNode] = field(default_factory=dict)
    labellings: dict[int, orm.WorkflowNode] = field(default_factory=dict)
    md_runs: dict[int, list[orm.CalcJobNode]] = field(default_factory=dict)
    calibrations: dict[int, dict[str, Any]] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    validation_curves: orm.ArrayData | None = None
    potential: orm.Data | None = None
    training_set: orm.Data | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has terminated."""
        return self.state in {'finished', 'excepted', 'killed'}

    def dft_seconds(self, generation: int) -> float:
        """Summed pw.x wall time (s) of the labels of ``generation``, as pw.x reported it."""
        node = self.labellings.get(generation)
        if node is None:
            return 0.0
        total = 0.0
        for calc in node.called_descendants:
            if (
                calc.process_type
                and calc.process_type.endswith('quantumespresso.pw')
                and 'output_parameters' in calc.outputs
            ):
                total += float(calc.outputs.output_parameters.get('wall_time_seconds', 0.0) or 0.0)
        return total

    def dft_count(self, generation: int) -> int:
        """Number of pw.x runs (restarts included) of ``generation``."""
        node = self.labellings.get(generation)
        if node is None:
            return 0
        return sum(
            1 for c in node.called_descendants if c.process_type and c.process_type.endswith('quantumespresso.pw')
        )


def _generation_of(label: str) -> int | None:
    match = _GEN.search(label)
    return int(match.group(1)) if match else None


def collect_run(node: orm.WorkflowNode) -> RunData:
    """Read a run of ``ActiveLearningWorkChain`` (running or finished)."""
    progress = node.base.extras.get(PROGRESS_EXTRA, {}) or {}
    outputs = node.outputs
    history = (
        outputs.history.get_dict().get('generations', []) if 'history' in outputs else list(progress.get('history', []))
    )
    stop = outputs.stop.get_dict() if 'stop' in outputs else progress.get('stop')
    state = node.process_state.value if node.process_state else 'unknown'
    data = RunData(
        pk=node.pk,
        label=node.label or node.process_label or '',
        state=state,
        exit_status=node.exit_status,
        exit_message=node.exit_message,
        config=node.inputs.config.get_dict() if 'config' in node.inputs else {},
        history=history,
        phase=progress.get('phase'),
        stop=stop,
        gamma_lower=progress.get('gamma_lower'),
    )
    for link in node.base.links.get_outgoing(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all():
        label, child = link.link_label, link.node
        generation = _generation_of(label)
        if generation is None:
            continue
        if label.startswith('train_gen') and (child.is_finished_ok or generation not in data.fits):
            data.fits[generation] = child
        elif label.startswith('label_gen'):
            data.labellings[generation] = child
        elif label.startswith('md_gen'):
            data.md_runs.setdefault(generation, []).append(child)
        elif label.startswith('calibrate_gen') and child.is_finished_ok:
            result = child.outputs.calibration if 'calibration' in child.outputs else None
            if result is not None:
                data.calibrations[generation] = {**result.get_dict(), 'pk': result.pk}
    if 'validation' in outputs:
        data.validation = {**outputs.validation.get_dict(), 'pk': outputs.validation.pk}
    if 'validation_curves' in outputs:
        data.validation_curves = outputs.validation_curves
    if 'potential' in outputs:
        data.potential = outputs.potential
    elif data.fits:
        last = data.fits[max(data.fits)]
        data.potential = last.outputs.potential if 'potential' in last.outputs else None
    if 'training_set' in outputs:
        data.training_set = outputs.training_set
    return data
