"""The ``loop`` section: when the active-learning loop stops, and how many failures it tolerates."""

from __future__ import annotations

from pydantic import Field

from aiida_mlip_autopipe.config.base import Section

__all__ = ('FailureBudget', 'LoopConfig')


class FailureBudget(Section):
    """How many failures a run tolerates before it stops with a 4xx exit code."""

    label_fraction: float = Field(
        default=0.25, ge=0, le=1, description='Failed DFT labels / labels tried per generation.'
    )
    md_fraction: float = Field(default=0.5, ge=0, le=1, description='Failed MD runs / MD runs per generation.')
    fits: int = Field(default=1, ge=0, le=100, description='Failed fits tolerated in a whole run.')


class LoopConfig(Section):
    """When the active-learning loop stops."""

    max_generations: int = Field(default=4, ge=1, le=1000)
    dft_budget: int = Field(default=200, ge=1, le=10_000_000, description='Most DFT labels in the whole run.')
    stable_fraction: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description='Stable when fewer MD frames than this exceed gamma_lower and none halted.',
    )
    rmse_plateau: float = Field(
        default=0.02, ge=0, le=1, description='Stop when the test force RMSE improves by less than this fraction.'
    )
    failure_budget: FailureBudget = Field(default_factory=FailureBudget)
