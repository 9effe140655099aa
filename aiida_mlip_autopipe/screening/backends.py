"""Screening models evaluated on whole batches of structures, not one ``Atoms`` at a time.

- :class:`MaceBackend`: a MACE model file (the exact file is a provenance input) or a
  MACE-MP foundation model (``mace_mp:small|medium|large``, downloaded by mace-torch;
  needs a network connection the first time);
- :class:`ChgnetBackend`: CHGNet 0.3.0, whose weights ship inside the ``chgnet`` wheel
  (works offline; a real universal model for the offline pre-screen);
- :class:`CalculatorBackend`: any ASE calculator, one structure at a time (the baseline).

:func:`load_backend` picks one from the ``screening.model`` setting.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    'load_backend',
)

MACE_MP_SIZES = ('small', 'medium', 'large')


@dataclass
class Evaluation:
    """Energy (eV) and forces (eV/Å) of one structure."""

    energy: float
    forces: np.ndarray


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
