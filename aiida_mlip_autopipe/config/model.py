"""``MLIPConfig``: a whole run, composed of the stages' sections, and the checks that span sections.

Each field is one stage's section model, defined next to that stage's code; this module
holds no stage logic, only what no single section can check on its own (an interstitial
element outside the target, a benchmark oracle that does not cover it).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from aiida_mlip_autopipe.candidates.config import (
    AntisiteOperation,
    GeneratorConfig,
    InterstitialOperation,
    TargetSystem,
)
from aiida_mlip_autopipe.config.base import Section, check_safe_label
from aiida_mlip_autopipe.exploration.config import ExplorationConfig
from aiida_mlip_autopipe.labelling.config import BenchmarkConfig, DFTConfig, check_oracle
from aiida_mlip_autopipe.loop.config import LoopConfig
from aiida_mlip_autopipe.screening.config import ScreeningConfig
from aiida_mlip_autopipe.selection.config import SelectionConfig
from aiida_mlip_autopipe.training.config import TrainingConfig
from aiida_mlip_autopipe.uncertainty.config import UncertaintyConfig
from aiida_mlip_autopipe.validation.config import ValidationConfig

__all__ = ('MLIPConfig',)


class MLIPConfig(Section):
    """A whole active-learning run."""

    name: str = Field(default='mlip-run', description='Label of the run (group and node labels).')
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description='Seed of every random choice.')
    target: TargetSystem
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    screening: ScreeningConfig = Field(default_factory=ScreeningConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    dft: DFTConfig = Field(default_factory=DFTConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)

    @field_validator('name')
    @classmethod
    def _name(cls, value: str) -> str:
        return check_safe_label(value, 'name')

    @model_validator(mode='after')
    def _cross_section(self) -> MLIPConfig:
        for op in self.generator.operations:
            if (
                isinstance(op, InterstitialOperation)
                and op.element is not None
                and op.element not in self.target.elements
            ):
                raise ValueError(
                    f'generator.operations: interstitial element {op.element!r} is not in target.elements '
                    f'{self.target.elements}'
                )
            if isinstance(op, AntisiteOperation) and len(self.target.elements) < 2:
                raise ValueError('generator.operations: antisite needs at least two elements in target.elements')
        if self.benchmark.oracle is not None:  # issue 9: the benchmark oracle must cover the target
            problem = check_oracle(self.benchmark.oracle, self.target.elements)
            if problem is not None:
                raise ValueError(f'benchmark.oracle: {problem}')
        from aiida_mlip_autopipe.config.physics import cross_field_problem

        found = cross_field_problem(self)  # issue 14: physics across sections, refused before anything runs
        if found is not None:
            raise ValueError(f'{found[0]}: {found[1]}')
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict, as stored in the ``config`` ``Dict`` input."""
        return self.model_dump(mode='json')
