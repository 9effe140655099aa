"""The ``training`` section: the pacemaker fit and where ACE hands over to the ZBL core repulsion."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aiida_mlip_autopipe.config.base import Section, check_safe_label, chemical_symbols

__all__ = ('RepulsionConfig', 'TrainingConfig', 'WeightingConfig')


class RepulsionConfig(Section):
    """Where the ACE potential hands over to a screened nuclear (ZBL) core repulsion.

    ACE knows nothing about distances shorter than those in its training data. Below
    ``inner_cutoff`` the pair interaction is the Ziegler–Biersack–Littmark screened
    nuclear repulsion (parameter-free, from the atomic numbers), switched in over
    ``delta``. The inner cutoff is set deliberately *below* the shortest distance MD can
    reach, never at the shortest distance of the training data (pacemaker's
    ``repulsion: auto``), which puts the switching region right where the next MD steps
    go and gives force spikes of tens of eV/Å there. Between the inner cutoff and the
    training data ACE extrapolates; the extrapolation grade flags it.
    """

    inner_cutoff: float | dict[str, float] | None = Field(
        default=None,
        description='Inner cutoff in Å: one value for every pair, per pair as {"Si-Ge": 1.3, ...}, or unset for '
        'covalent_fraction × (sum of the two covalent radii), e.g. 1.665 Å for Si–Si.',
    )
    covalent_fraction: float = Field(
        default=0.75,
        gt=0.1,
        le=0.95,
        description='Fraction of the covalent bond length used as inner cutoff when inner_cutoff is unset: a '
        'distance thermal MD does not reach (for Si 1.665 Å against a 2.35 Å bond).',
    )
    delta: float | None = Field(
        default=None,
        gt=0,
        le=2,
        description='Width in Å of the region below the inner cutoff where ACE is switched off and the core '
        'repulsion on. Default: a quarter of the inner cutoff.',
    )
    max_data_fraction: float = Field(
        default=0.9,
        gt=0.1,
        le=1,
        description='The inner cutoff of a pair is lowered to at most this fraction of the shortest distance of '
        'that pair in the training data, so every labelled configuration is fitted by ACE alone.',
    )

    @field_validator('inner_cutoff')
    @classmethod
    def _pairs(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        if value is None:
            return None
        values = value.values() if isinstance(value, dict) else [value]
        for cutoff in values:
            if not 0.1 < cutoff <= 4:
                raise ValueError(f'inner cutoff {cutoff} Å is outside (0.1, 4] Å')
        if isinstance(value, dict):
            symbols = chemical_symbols()
            for key in value:
                parts = key.split('-')
                if len(parts) != 2 or any(p not in symbols for p in parts):
                    raise ValueError(f'inner_cutoff key {key!r} must name a pair of elements like "Si-Ge"')
        return value

    def inner_cutoff_for(self, first: str, second: str) -> float | None:
        """The inner cutoff given for a pair (either order), or None when it is to be derived."""
        if self.inner_cutoff is None:
            return None
        if not isinstance(self.inner_cutoff, dict):
            return float(self.inner_cutoff)
        for key in (f'{first}-{second}', f'{second}-{first}'):
            if key in self.inner_cutoff:
                return float(self.inner_cutoff[key])
        return None


class WeightingConfig(Section):
    """How the fit's loss weighs structures: all alike, or the energies near the target phase most.

    See :mod:`aiida_mlip_autopipe.training.weights`.
    """

    scheme: Literal['energy', 'uniform'] = Field(
        default='energy',
        description="'energy': structure weight 1/(dE + delta_energy)^2 with dE the energy per atom above the "
        "lowest labelled structure, atom force weight that times 1/(|F|^2 + delta_force); 'uniform': every "
        'structure and atom alike.',
    )
    delta_energy: float = Field(
        default=0.05,
        gt=0,
        le=100,
        description='eV/atom: structures this far above the lowest one get a quarter of its energy weight.',
    )
    delta_force: float = Field(default=1.0, gt=0, le=1e4, description="(eV/Å)^2 in the atoms' force weights.")

    def deltas(self) -> tuple[float, float] | None:
        """``(delta_energy, delta_force)`` for energy weighting, None for uniform weights."""
        return (self.delta_energy, self.delta_force) if self.scheme == 'energy' else None


class TrainingConfig(Section):
    """Pacemaker fit settings (turned into pacemaker's input.yaml by ``training.input``)."""

    code: str = Field(default='pacemaker@localhost', description='Label of the AiiDA code for pacemaker.')
    cutoff: float = Field(default=5.0, gt=1, le=12, description='Radial cutoff in Å.')
    functions_per_element: int = Field(default=32, ge=1, le=5000, description='ACE basis functions per element.')
    embedding: Literal['FinnisSinclairShiftedScaled', 'FinnisSinclair', 'linear'] = Field(
        default='FinnisSinclairShiftedScaled',
        description="Embedding function; 'linear' is a single density with exponent 1 (ndensity is then ignored).",
    )
    ndensity: int = Field(default=2, ge=1, le=8, description='Number of densities in the embedding.')
    radial_basis: Literal['SBessel', 'ChebExpCos', 'ChebPow'] = Field(
        default='SBessel', description='Radial basis functions of every bond.'
    )
    nradmax_by_orders: list[Annotated[int, Field(ge=1, le=30)]] | None = Field(
        default=None,
        description='Largest radial index per body order (pacemaker nradmax_by_orders) for every block. '
        "Default: pacemaker's template for unary, binary, ternary and higher blocks.",
    )
    lmax_by_orders: list[Annotated[int, Field(ge=0, le=12)]] | None = Field(
        default=None,
        description='Largest angular index per body order (pacemaker lmax_by_orders); give with nradmax_by_orders.',
    )
    energy_weight: float = Field(
        default=0.7,
        gt=0,
        description='Relative weight of energies per atom in the loss; pacemaker kappa = '
        'force_weight / (energy_weight + force_weight).',
    )
    force_weight: float = Field(default=0.3, gt=0, description='Relative weight of forces in the loss.')
    weighting: WeightingConfig = Field(default_factory=WeightingConfig)
    l1_regularization: float = Field(default=1e-8, ge=0, le=1, description='L1 penalty on the coefficients.')
    l2_regularization: float = Field(default=1e-8, ge=0, le=1, description='L2 penalty on the coefficients.')
    buffer_force_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description='Force weight of buffer atoms in cut-out environments (core atoms: 1). The extraction step '
        "writes it into each frame's per-atom force_weight array, which the fit uses as pacemaker's per-atom "
        'w_forces.',
    )
    optimizer: Literal['BFGS', 'L-BFGS-B'] = 'BFGS'
    maxiter: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description='Optimizer iterations per fit. A fit that stops here is kept and reported as not converged.',
    )
    reference_energy: Literal['auto'] | dict[str, float] = Field(
        default='auto',
        description="Per-element reference energies in eV subtracted before fitting: 'auto' (least squares over the "
        'training set, kept from the previous potential on warm starts) or {Si: -107.6, shift: 0.0}.',
    )
    test_fraction: float = Field(
        default=0.1,
        ge=0,
        lt=0.9,
        description='Fraction of labels held out as test set when no separate test set is given; 0 for none.',
    )
    warm_start: bool = Field(default=True, description='Start each fit from the previous generation potential.')
    repulsion: RepulsionConfig = Field(default_factory=RepulsionConfig)
    batch_size: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description='Structures per TensorFlow batch; lower it when a fit runs out of memory.',
    )
    display_step: int = Field(
        default=20, ge=1, le=100_000, description='Iterations between test-set evaluations in the learning curve.'
    )
    extra_input_overrides: list[str] = Field(
        default_factory=list,
        description='Dotted keys of extra_input that knowingly override a value the generated input sets without '
        'a typed field, e.g. ["potential.bonds.ALL.dcut"] (a block may be "*"); any other such key is refused.',
    )
    extra_input: dict[str, Any] = Field(
        default_factory=dict,
        description='Expert use: entries deep-merged last into the generated pacemaker input.yaml, e.g. '
        '{fit: {ladder_step: 10}}.',
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return check_safe_label(value, 'code label')

    @field_validator('reference_energy')
    @classmethod
    def _reference(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        if isinstance(value, dict):
            symbols = chemical_symbols()
            unknown = sorted(k for k in value if k != 'shift' and k not in symbols)
            if unknown:
                raise ValueError(f'reference_energy keys {unknown} are neither elements nor "shift"')
            if not all(math.isfinite(v) for v in value.values()):
                raise ValueError('reference_energy values must be finite numbers (eV)')
        return value

    @field_validator('extra_input')
    @classmethod
    def _extra(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        allowed = {'potential', 'data', 'fit', 'backend', 'metadata'}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f'extra_input sections {unknown} are not pacemaker input sections ({sorted(allowed)})')
        # Known pacemaker keys, typed and ranged; no files, no code, no copies of typed fields
        # (training.extra_input). Every problem at once, each naming its key and the fix.
        from aiida_mlip_autopipe.training.extra_input import check_extra_input

        problems = check_extra_input(value, info.data.get('extra_input_overrides', []))
        if problems:
            raise ValueError('; '.join(problems))
        return value

    @model_validator(mode='after')
    def _consistent(self) -> TrainingConfig:
        from aiida_mlip_autopipe.training.extra_input import unused_overrides

        unused = unused_overrides(self.extra_input, self.extra_input_overrides)
        if unused:
            raise ValueError(
                f'training.extra_input_overrides lists {unused}, which training.extra_input does not set; '
                'remove them or set those keys'
            )
        cutoffs = self.repulsion.inner_cutoff
        values = [] if cutoffs is None else (list(cutoffs.values()) if isinstance(cutoffs, dict) else [cutoffs])
        for value in values:
            if value >= self.cutoff:
                raise ValueError(f'repulsion.inner_cutoff ({value} Å) must be below cutoff ({self.cutoff} Å)')
        if (self.nradmax_by_orders is None) != (self.lmax_by_orders is None):
            raise ValueError('give nradmax_by_orders and lmax_by_orders together')
        if self.nradmax_by_orders is not None and len(self.nradmax_by_orders) != len(self.lmax_by_orders or []):
            raise ValueError(
                f'nradmax_by_orders ({len(self.nradmax_by_orders)} orders) and lmax_by_orders '
                f'({len(self.lmax_by_orders or [])} orders) must have the same length'
            )
        return self

    @property
    def kappa(self) -> float:
        """Pacemaker's relative force weight in the loss (0 energies only, 1 forces only)."""
        return self.force_weight / (self.energy_weight + self.force_weight)
