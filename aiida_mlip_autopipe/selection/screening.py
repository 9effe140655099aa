"""Pre-screening of candidates with a universal (or small local) potential before any DFT is spent.

A candidate is rejected when

1. two atoms are closer than ``min_distance_factor`` × the sum of their covalent
   radii (overlapping atoms; decided geometrically, before the model runs),
2. the model returns non-finite energy or forces,
3. its largest atomic force exceeds ``max_force`` (eV/Å), or
4. its energy per atom lies more than ``energy_window`` (eV/atom) from the trend of
   the candidates that passed the force check, after per-element reference energies
   are fitted to them (see :func:`energy_deviations`): blow-ups above, model holes below.

Every candidate gets a :class:`Verdict` with the number that decided it, so a report
can say *why* a structure was dropped.

Backends evaluate whole batches, not one ``Atoms`` at a time:

- :class:`MaceBackend`: a MACE model file (the exact file is a provenance input) or a
  MACE-MP foundation model (``mace_mp:small|medium|large``, downloaded by mace-torch;
  needs a network connection the first time);
- :class:`ChgnetBackend`: CHGNet 0.3.0, whose weights ship inside the ``chgnet`` wheel
  (works offline; a real universal model for the offline pre-screen).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = (
    'MACE_MP_SIZES',
    'CalculatorBackend',
    'ChgnetBackend',
    'Evaluation',
    'MaceBackend',
    'ScreeningBackend',
    'Verdict',
    'energy_deviations',
    'load_backend',
    'min_distance_ratio',
    'screen',
)

MACE_MP_SIZES = ('small', 'medium', 'large')

#: Reasons a verdict can give.
REASON_KEPT = 'ok'
REASON_OVERLAP = 'overlapping_atoms'
REASON_NON_FINITE = 'non_finite'
REASON_MAX_FORCE = 'max_force'
REASON_ENERGY = 'energy_outlier'
REASON_NOT_SCREENED = 'not_screened'


@dataclass
class Evaluation:
    """Energy (eV) and forces (eV/Å) of one structure."""

    energy: float
    forces: np.ndarray


@dataclass
class Verdict:
    """Kept or rejected, and the number that decided it."""

    kept: bool
    reason: str
    #: The deciding number: the distance ratio, max |F| (eV/Å) or |ΔE/atom| from the median (eV/atom).
    value: float | None = None
    #: The threshold ``value`` was compared with.
    threshold: float | None = None
    energy_per_atom: float | None = None
    max_force: float | None = None
    #: Shortest distance divided by the sum of covalent radii of that pair.
    min_distance_ratio: float | None = None
    #: Distance (eV/atom) from the composition trend of the candidates that passed the force check.
    energy_deviation: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible (``None`` for values not computed, never NaN)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


class ScreeningBackend(Protocol):
    """What :func:`screen` needs from a model."""

    #: Human-readable description (model name, file hash, library version).
    description: dict[str, Any]

    def evaluate(self, structures: Sequence[Atoms]) -> list[Evaluation]:
        """Energies and forces of ``structures`` in order, evaluated in batches."""
        ...


class MaceBackend:
    """A MACE model evaluated on batches of graphs (``torch_geometric`` data loader).

    Batching amortises the per-call overhead of the model and of the ASE calculator
    interface; :mod:`benchmarks.screening_batch` measures the gain.
    """

    def __init__(
        self,
        model: Any,
        device: str = 'cpu',
        batch_size: int = 16,
        description: dict[str, Any] | None = None,
    ) -> None:
        import mace  # noqa: F401  (sets torch.load's weights_only default that MACE files need)

        self.model = model.to(device)
        self.device = device
        self.batch_size = int(batch_size)
        for parameter in self.model.parameters():
            parameter.requires_grad = False
        self.dtype = next(self.model.parameters()).dtype
        self.r_max = float(self.model.r_max)
        self.atomic_numbers = [int(z) for z in self.model.atomic_numbers]
        heads = getattr(self.model, 'heads', None)
        self.heads = list(heads) if heads else None
        if not self.heads:
            self.head = 'Default'
        elif len(self.heads) == 1:
            self.head = self.heads[0]
        else:
            default = [h for h in self.heads if h.lower() == 'default']
            self.head = default[0] if default else self.heads[-1]
        self.description = {
            'backend': 'mace',
            'elements': self.elements,
            'r_max': self.r_max,
            'dtype': str(self.dtype).replace('torch.', ''),
            'head': self.head,
            **(description or {}),
        }

    @property
    def elements(self) -> list[str]:
        """Chemical symbols the model knows."""
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.atomic_numbers]

    @classmethod
    def from_file(cls, source: str | Path | BinaryIO, device: str = 'cpu', batch_size: int = 16, **kwargs: Any):
        """Load a MACE ``.model`` file (a path or an open binary handle, e.g. of a ``SinglefileData``)."""
        import mace  # noqa: F401
        import torch

        if isinstance(source, (str, Path)):
            with open(source, 'rb') as handle:
                content = handle.read()
        else:
            content = source.read()
        model = torch.load(io.BytesIO(content), map_location=device, weights_only=False)
        import hashlib

        description = {'sha256': hashlib.sha256(content).hexdigest(), **kwargs.pop('description', {})}
        return cls(model, device=device, batch_size=batch_size, description=description, **kwargs)

    @classmethod
    def from_foundation(cls, size: str = 'small', device: str = 'cpu', batch_size: int = 16):
        """A MACE-MP foundation model, downloaded (once, then cached) by mace-torch."""
        if size not in MACE_MP_SIZES:
            raise ValueError(f'MACE-MP size must be one of {", ".join(MACE_MP_SIZES)}, got {size!r}')
        from mace.calculators.foundations_models import download_mace_mp_checkpoint

        try:
            path = download_mace_mp_checkpoint(size)
        except Exception as exc:
            raise RuntimeError(
                f'MACE-MP model {size!r} could not be downloaded ({type(exc).__name__}: {exc}); on an offline '
                "machine use screening.model: 'chgnet' or the path of a local MACE model file"
            ) from exc
        from mace import __version__ as mace_version

        return cls.from_file(
            path,
            device=device,
            batch_size=batch_size,
            description={'name': f'mace_mp:{size}', 'path': str(path), 'mace_version': mace_version},
        )

    def check_elements(self, structures: Sequence[Atoms]) -> None:
        """Raise a clear error when a structure holds an element the model was not trained on."""
        from ase.data import chemical_symbols

        known = set(self.atomic_numbers)
        unknown = sorted({int(z) for atoms in structures for z in atoms.numbers} - known)
        if unknown:
            raise ValueError(
                f'the MACE model knows {self.elements} only; the candidates also hold '
                f'{[chemical_symbols[z] for z in unknown]}'
            )

    def evaluate(self, structures: Sequence[Atoms]) -> list[Evaluation]:
        """Energies and forces, ``batch_size`` structures per forward pass."""
        from mace import data as mace_data
        from mace.tools import torch_geometric, torch_tools, utils

        if not structures:
            return []
        self.check_elements(structures)
        z_table = utils.AtomicNumberTable(self.atomic_numbers)
        results: list[Evaluation] = []
        with torch_tools.default_dtype(self.dtype):
            graphs = [
                mace_data.AtomicData.from_config(
                    mace_data.config_from_atoms(atoms, head_name=self.head),
                    z_table=z_table,
                    cutoff=self.r_max,
                    heads=self.heads,
                )
                for atoms in structures
            ]
            loader = torch_geometric.dataloader.DataLoader(
                dataset=graphs, batch_size=self.batch_size, shuffle=False, drop_last=False
            )
            for cpu_batch in loader:
                batch = cpu_batch.to(self.device)
                output = self.model(batch.to_dict(), training=False, compute_stress=False)
                energies = output['energy'].detach().cpu().numpy()
                forces = output['forces'].detach().cpu().numpy()
                bounds = batch.ptr.cpu().numpy()
                for i, energy in enumerate(energies):
                    results.append(Evaluation(float(energy), forces[bounds[i] : bounds[i + 1]].copy()))
        return results


class ChgnetBackend:
    """CHGNet with the universal weights bundled in the wheel (no download needed)."""

    def __init__(self, device: str = 'cpu', batch_size: int = 16, model_name: str = '0.3.0') -> None:
        import chgnet
        from chgnet.model import CHGNet

        self.model = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
        self.batch_size = int(batch_size)
        self.description = {
            'backend': 'chgnet',
            'name': 'chgnet',
            'model_version': model_name,
            'chgnet_version': getattr(chgnet, '__version__', 'unknown'),
        }

    def evaluate(self, structures: Sequence[Atoms]) -> list[Evaluation]:
        """Energies (CHGNet predicts eV/atom; returned here per structure) and forces, in batches."""
        from pymatgen.io.ase import AseAtomsAdaptor

        if not structures:
            return []
        converted = [AseAtomsAdaptor.get_structure(atoms) for atoms in structures]
        predictions = self.model.predict_structure(converted, task='ef', batch_size=self.batch_size)
        if isinstance(predictions, dict):
            predictions = [predictions]
        return [
            Evaluation(float(p['e']) * len(atoms), np.asarray(p['f'], dtype=float))
            for p, atoms in zip(predictions, structures, strict=True)
        ]


class CalculatorBackend:
    """Any ASE calculator, one structure at a time (no batching).

    The baseline the batched backends are measured against, and a way to screen with
    a calculator that has no batched interface (EMT, a pyace potential, ...).
    """

    def __init__(self, calculator: Any, description: dict[str, Any] | None = None) -> None:
        self.calculator = calculator
        self.description = {'backend': 'ase', 'calculator': type(calculator).__name__, **(description or {})}

    def evaluate(self, structures: Sequence[Atoms]) -> list[Evaluation]:
        """Energy and forces of each structure in turn."""
        results = []
        for atoms in structures:
            copy = atoms.copy()
            copy.calc = self.calculator
            results.append(Evaluation(float(copy.get_potential_energy()), np.array(copy.get_forces())))
        return results


def load_backend(model: str | Path | BinaryIO, device: str = 'cpu', batch_size: int = 16) -> ScreeningBackend | None:
    """The backend for ``model``: ``'mace_mp:<size>'``, ``'chgnet'``, ``'none'`` (None) or a MACE model file."""
    if isinstance(model, str) and model == 'none':
        return None
    if isinstance(model, str) and model == 'chgnet':
        return ChgnetBackend(device=device, batch_size=batch_size)
    if isinstance(model, str) and model.startswith('mace_mp:'):
        return MaceBackend.from_foundation(model.split(':', 1)[1], device=device, batch_size=batch_size)
    if isinstance(model, (str, Path)):
        path = Path(os.path.expanduser(str(model)))
        if not path.is_file():
            raise FileNotFoundError(
                f"screening model {str(model)!r} is neither 'mace_mp:<size>', 'chgnet', 'none' nor a file"
            )
        return MaceBackend.from_file(path, device=device, batch_size=batch_size, description={'path': str(path)})
    return MaceBackend.from_file(model, device=device, batch_size=batch_size)


def min_distance_ratio(atoms: Atoms) -> float:
    """Smallest ``d_ij / (r_i + r_j)`` over atom pairs (covalent radii, periodic images included).

    Returns ``inf`` when no pair is within 1.5 × the radii sum (nothing to worry about).
    """
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0:
        return math.inf
    radii = covalent_radii[atoms.numbers]
    cutoff = 1.5 * 2 * float(radii.max())
    i, j, d = neighbor_list('ijd', atoms, cutoff, self_interaction=False)
    if len(d) == 0:
        return math.inf
    return float((d / (radii[i] + radii[j])).min())


def energy_deviations(structures: Sequence[Atoms], energies: Sequence[float], window: float) -> np.ndarray:
    """Per-atom distance (eV/atom) of each energy from the pool's composition trend.

    Total energies per atom differ by eV between compositions (different elements,
    vacancies, interstitials), so a plain median of E/atom would flag every off-
    stoichiometry cell. Instead per-element reference energies are fitted by least
    squares (``E ≈ Σ n_s μ_s``) and the residual per atom is compared with the median
    residual; structures beyond ``window`` are excluded and the fit repeated (at most
    three times) so blow-ups do not drag the reference.
    """
    species = sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})
    counts = np.array([[atoms.get_chemical_symbols().count(s) for s in species] for atoms in structures], dtype=float)
    energies = np.asarray(energies, dtype=float)
    n_atoms = counts.sum(axis=1)
    mask = np.ones(len(energies), dtype=bool)
    deviation = np.zeros(len(energies))
    for _ in range(3):
        mu, *_ = np.linalg.lstsq(counts[mask], energies[mask], rcond=None)
        residual = (energies - counts @ mu) / n_atoms
        deviation = np.abs(residual - np.median(residual[mask]))
        new_mask = deviation <= window
        if new_mask.sum() <= len(species) or np.array_equal(new_mask, mask):
            break
        mask = new_mask
    return deviation


def screen(
    structures: Sequence[Atoms],
    backend: ScreeningBackend | None,
    max_force: float = 15.0,
    energy_window: float = 2.0,
    min_distance_factor: float = 0.5,
) -> list[Verdict]:
    """One :class:`Verdict` per structure, in order (see the module docstring for the rules)."""
    verdicts: list[Verdict | None] = [None] * len(structures)
    ratios = [min_distance_ratio(atoms) for atoms in structures]
    to_evaluate = []
    for index, ratio in enumerate(ratios):
        if min_distance_factor > 0 and ratio < min_distance_factor:
            verdicts[index] = Verdict(False, REASON_OVERLAP, ratio, min_distance_factor, min_distance_ratio=ratio)
        else:
            to_evaluate.append(index)
    if backend is None:
        for index in to_evaluate:
            verdicts[index] = Verdict(True, REASON_NOT_SCREENED, min_distance_ratio=ratios[index])
        return [v for v in verdicts if v is not None]

    evaluations = backend.evaluate([structures[i] for i in to_evaluate])
    passed_forces: list[tuple[int, float, float]] = []
    for index, evaluation in zip(to_evaluate, evaluations, strict=True):
        n_atoms = len(structures[index])
        energy_per_atom = evaluation.energy / n_atoms
        forces = np.asarray(evaluation.forces, dtype=float)
        finite = math.isfinite(energy_per_atom) and bool(np.all(np.isfinite(forces)))
        force = float(np.linalg.norm(forces, axis=1).max()) if finite and n_atoms else math.nan
        common = {'energy_per_atom': energy_per_atom, 'max_force': force, 'min_distance_ratio': ratios[index]}
        if not finite:
            verdicts[index] = Verdict(False, REASON_NON_FINITE, **common)
        elif force > max_force:
            verdicts[index] = Verdict(False, REASON_MAX_FORCE, force, max_force, **common)
        else:
            passed_forces.append((index, energy_per_atom, force))
    if passed_forces:
        indices = [index for index, _, _ in passed_forces]
        deviations = energy_deviations(
            [structures[i] for i in indices], [e * len(structures[i]) for i, e, _ in passed_forces], energy_window
        )
        for (index, energy_per_atom, force), deviation in zip(passed_forces, deviations, strict=True):
            common = {
                'energy_per_atom': energy_per_atom,
                'max_force': force,
                'min_distance_ratio': ratios[index],
                'energy_deviation': float(deviation),
            }
            if deviation > energy_window:
                verdicts[index] = Verdict(False, REASON_ENERGY, float(deviation), energy_window, **common)
            else:
                verdicts[index] = Verdict(True, REASON_KEPT, force, max_force, **common)
    return [v for v in verdicts if v is not None]
