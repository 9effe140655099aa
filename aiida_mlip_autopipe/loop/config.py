"""The ``loop`` section: when it stops, what its fits are measured on, the final refit, the failures it tolerates."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiida_mlip_autopipe.config.base import Section

__all__ = ('FailureBudget', 'FinalFitConfig', 'LoopConfig')


class FinalFitConfig(Section):
    """The converged refit that becomes the run's potential once the loop stops.

    Per-generation fits may stay cheap (few iterations, a small basis, warm starts); the
    potential users get is fitted from scratch on every label, with a basis sized to the data
    and enough iterations, with several seeds, the best on the held-out set kept (the last
    loop potential competes too).
    """

    enabled: bool = Field(default=True, description='Refit once the loop stops.')
    functions_per_element: int | Literal['auto'] = Field(
        default='auto',
        description="Basis functions per element, or 'auto': one per 8 labelled atoms of the rarest element, in "
        'steps of 8, at least min_functions_per_element (and training.functions_per_element), at most '
        'max_functions_per_element and what the active set of the labelled atoms can hold.',
    )
    min_functions_per_element: int = Field(
        default=32,
        ge=1,
        le=5000,
        description="Lower bound of 'auto' (16 functions failed every Si label set of 24 cells: bulk modulus +20 % "
        'to +160 %; 32 gave +4 %).',
    )
    max_functions_per_element: int = Field(default=64, ge=1, le=5000, description="Upper bound of 'auto'.")
    kappa: float | None = Field(
        default=0.1,
        gt=0,
        lt=1,
        description='Force share of the loss of the refits (pacemaker kappa; energies get 1 - kappa), or null for '
        "training's energy_weight and force_weight. Energy-weighted refits fit E-V and the bulk modulus better.",
    )
    maxiter: int = Field(default=500, ge=1, le=100_000, description='Optimizer iterations of each refit.')
    seeds: int = Field(default=2, ge=1, le=16, description='Refits with different seeds (run at the same time).')

    @model_validator(mode='after')
    def _bounds_in_order(self) -> FinalFitConfig:
        if self.min_functions_per_element > self.max_functions_per_element:
            raise ValueError(
                f'min_functions_per_element ({self.min_functions_per_element}) is above max_functions_per_element '
                f'({self.max_functions_per_element}); lower the first or raise the second'
            )
        return self


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
        default=0.02,
        ge=0,
        le=1,
        description='Stop when the force RMSE on the held-out set improves by less than this fraction from one '
        "generation's fit to the next.",
    )
    holdout: int = Field(
        default=4,
        ge=0,
        le=100_000,
        description="DFT labels drawn once from generation 0's screened candidates (spread over their origins) "
        'and never trained on: the yardstick of every fit (plateau rule, regression check, final refit, report).',
    )
    holdout_per_generation: int = Field(
        default=1,
        ge=0,
        le=1000,
        description='MD cut-outs of each later generation added to the held-out set as they appear.',
    )
    regression_tolerance: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="A generation's fit whose held-out energy or force RMSE is worse than the previous potential's "
        'by more than this fraction is a regression: reported, and the previous potential is kept.',
    )
    final_fit: FinalFitConfig = Field(default_factory=FinalFitConfig)
    failure_budget: FailureBudget = Field(default_factory=FailureBudget)
