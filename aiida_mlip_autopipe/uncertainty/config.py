"""The ``uncertainty`` section: calibrating the extrapolation grade, and scoring the unlabelled pool with it."""

from __future__ import annotations

from pydantic import Field, field_validator

from aiida_mlip_autopipe.config.base import Section, check_safe_label, job_code_field

__all__ = ('UncertaintyConfig',)


class UncertaintyConfig(Section):
    """How far the extrapolation grade gamma is trusted, and where else it looks for what the potential lacks."""

    code: str = job_code_field('pool-scoring and calibration')
    calibrate: bool = Field(
        default=False, description='Adjust exploration.gamma_lower from the measured force errors of each generation.'
    )
    bounds: tuple[float, float] = Field(default=(1.5, 5.0), description='Bounds for the calibrated gamma_lower.')
    error_target: float = Field(
        default=0.3,
        gt=0,
        le=100,
        description='Per-atom force error (eV/Å) that gamma should flag; calibration finds the gamma where '
        'the mean error crosses it.',
    )
    min_spearman: float = Field(
        default=0.3,
        ge=-1,
        le=1,
        description='Rank correlation of gamma with the force error below which a calibration moves nothing: '
        'gamma_lower keeps its value, since a threshold read off errors that gamma does not order is noise.',
    )
    reuse_pool: bool = Field(
        default=True,
        description='From generation 1 on, also offer the unlabelled candidates of earlier pools on which the '
        'current potential extrapolates (max gamma above gamma_lower); MD alone revisits only what it samples.',
    )

    @field_validator('bounds')
    @classmethod
    def _bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError(f'bounds {list(value)} must be 0 < low < high')
        return value

    @field_validator('code')
    @classmethod
    def _code_label(cls, value: str) -> str:
        return check_safe_label(value, 'code label')
