"""An ACE potential as fitted by pacemaker: the B-basis YAML, the YACE file and the active set.

The three files belong together: LAMMPS reads the ``.yace`` and ``.asi``, pyace reads
the ``.yaml`` (only the YAML gives per-atom extrapolation grades in Python), and the
next fit warm-starts from the YAML. One node keeps them from drifting apart.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from aiida import orm

__all__ = ('AcePotentialData',)


class AcePotentialData(orm.FolderData):
    """Folder with ``potential.yaml``, ``potential.yace`` and optionally ``potential.asi``."""

    FILENAME_YAML = 'potential.yaml'
    FILENAME_YACE = 'potential.yace'
    FILENAME_ASI = 'potential.asi'

    @classmethod
    def from_files(
        cls,
        yaml: str | Path,
        yace: str | Path | None = None,
        asi: str | Path | None = None,
        **kwargs: Any,
    ) -> AcePotentialData:
        """Build an unstored node from files on disk; elements and cutoff are read from the YAML."""
        node = cls(**kwargs)
        node.base.repository.put_object_from_file(str(yaml), cls.FILENAME_YAML)
        if yace is not None:
            node.base.repository.put_object_from_file(str(yace), cls.FILENAME_YACE)
        if asi is not None:
            node.base.repository.put_object_from_file(str(asi), cls.FILENAME_ASI)
        node._set_summary(Path(yaml).read_text())
        return node

    def _set_summary(self, text: str) -> None:
        import yaml as pyyaml

        try:
            content = pyyaml.safe_load(io.StringIO(text))
        except pyyaml.YAMLError as exc:
            raise ValueError(f'potential YAML cannot be read: {exc}') from None
        if isinstance(content, dict) and 'elements' not in content and isinstance(content.get('species'), list):
            # pacemaker's output_potential.yaml is a B-basis file: one block per element
            # ('Si') and per element pair ('Si Ge'), cutoffs in rcutij, functions in nbody.
            blocks = [b for b in content['species'] if isinstance(b, dict)]
            elements = [str(b['speciesblock']) for b in blocks if len(str(b.get('speciesblock', '')).split()) == 1]
            cutoffs = [float(b['rcutij']) for b in blocks if 'rcutij' in b]
            self.base.attributes.set('elements', elements)
            self.base.attributes.set('cutoff', max(cutoffs) if cutoffs else None)
            self.base.attributes.set('number_of_functions', sum(len(b.get('nbody') or []) for b in blocks))
            return
        if not isinstance(content, dict) or 'elements' not in content:
            raise ValueError('potential YAML has no "elements": is it a pacemaker output_potential.yaml?')
        self.base.attributes.set('elements', list(content['elements']))
        cutoffs = []
        functions = 0
        for block in (content.get('bonds') or {}).values():
            if isinstance(block, dict) and 'rcut' in block:
                cutoffs.append(float(block['rcut']))
        for block in (content.get('functions') or {}).values():
            if isinstance(block, list):
                functions += len(block)
        self.base.attributes.set('cutoff', max(cutoffs) if cutoffs else None)
        self.base.attributes.set('number_of_functions', functions)

    @property
    def elements(self) -> list[str]:
        """Chemical symbols, in the order of the potential."""
        return self.base.attributes.get('elements', [])

    @property
    def cutoff(self) -> float | None:
        """Largest radial cutoff in Å."""
        return self.base.attributes.get('cutoff', None)

    @property
    def has_active_set(self) -> bool:
        """Whether an ``.asi`` active set is stored (needed for extrapolation grades)."""
        return self.FILENAME_ASI in self.base.repository.list_object_names()

    def write_files(self, folder: str | Path) -> dict[str, Path]:
        """Copy the files into ``folder``; returns their paths by kind (yaml, yace, asi)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, name in (('yaml', self.FILENAME_YAML), ('yace', self.FILENAME_YACE), ('asi', self.FILENAME_ASI)):
            if name in self.base.repository.list_object_names():
                path = folder / name
                path.write_bytes(self.base.repository.get_object_content(name, mode='rb'))
                paths[kind] = path
        return paths

    @property
    def label_sources(self) -> dict[str, int]:
        """Frames per label source of the set it was fitted to: ``{'dft:pw.x': 24}`` or ``{'oracle:emt': 40}``.

        Set by the parser from the fit's ``training_set``; empty for a potential made from files.
        """
        return dict(self.base.attributes.get('label_sources', None) or {})

    @property
    def label_origins(self) -> list[dict[str, Any]]:
        """The distinct sources of its labels with code and settings (see ``TrainingSetData.label_origins``)."""
        return list(self.base.attributes.get('label_origins', None) or [])

    @property
    def label_description(self) -> str:
        """One phrase for reports and plots: ``'DFT (pw.x)'``, ``'EMT oracle (benchmark, NOT DFT)'``, or a mix."""
        from aiida_mlip_autopipe.labelling.label_source import describe_label_sources

        return describe_label_sources(self.label_sources) if self.label_sources else 'unknown (made from files)'

    @property
    def reference_energy(self) -> dict[str, float]:
        """Pacemaker's reference energies (eV): per element, and ``shift`` per atom."""
        return dict(self.base.attributes.get('reference_energy', None) or {})

    def energy_offset(self, symbols: list[str]) -> float:
        """What to add to the potential's energy to compare it with DFT total energies (eV).

        Pacemaker fits ``E_DFT - sum_i E_ref[el_i] + shift * N``; the potential returns
        that corrected energy, so the offset is ``sum_i E_ref[el_i] - shift * N``.
        """
        reference = self.reference_energy
        if not reference:
            return 0.0
        shift = float(reference.get('shift', 0.0))
        return float(sum(float(reference.get(s, 0.0)) for s in symbols) - shift * len(symbols))

    def get_calculator(
        self, active_set: bool = True, folder: str | Path | None = None, dft_energies: bool = True
    ) -> Any:
        """An ASE calculator on the YAML potential (pyace), with the active set when asked.

        With ``dft_energies`` (default) energies include the reference energies, so they
        compare directly with the DFT labels; forces, stress and gamma are pyace's. The
        calculator reads its files at construction, so a temporary folder suffices.
        """
        from pyace import PyACECalculator

        with tempfile.TemporaryDirectory() as tmp:
            paths = self.write_files(folder or tmp)
            calc = PyACECalculator(str(paths['yaml']))
            if active_set:
                if 'asi' not in paths:
                    raise ValueError(f'potential {self.pk} has no active set ({self.FILENAME_ASI})')
                calc.set_active_set(str(paths['asi']))
        if dft_energies and self.reference_energy:
            return _ReferencedCalculator(calc, self)
        return calc

    def prediction_errors(self, frames: Any) -> tuple[Any, list[Any]]:
        """Errors of this potential against labelled ``frames`` (ASE atoms with energy and forces).

        :returns: the energy error per atom of each frame (eV/atom, array) and the force
            component errors of each frame (eV/Å, one flat array per frame), so callers can
            form RMSEs over all frames or over any subset of them.
        """
        import numpy as np

        calculator = self.get_calculator(active_set=False)
        energy, forces = [], []
        for atoms in frames:
            probe = atoms.copy()
            probe.calc = calculator
            energy.append((probe.get_potential_energy() - atoms.get_potential_energy()) / len(atoms))
            forces.append((probe.get_forces() - atoms.get_forces()).ravel())
        return np.asarray(energy, dtype=float), forces


class _ReferencedCalculator:
    """Wraps a pyace calculator and adds the reference energies of the fit to its energies."""

    implemented_properties = ('energy', 'free_energy', 'energies', 'forces', 'stress')

    def __init__(self, calc: Any, potential: AcePotentialData):
        self._calc = calc
        self._potential = potential
        self.results: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._calc, name)

    def get_property(self, name: str, atoms: Any = None, allow_calculation: bool = True) -> Any:
        value = self._calc.get_property(name, atoms, allow_calculation)
        self.results = dict(self._calc.results)
        symbols = atoms.get_chemical_symbols() if atoms is not None else None
        if symbols is not None:
            offset = self._potential.energy_offset(symbols)
            for key in ('energy', 'free_energy'):
                if key in self.results:
                    self.results[key] = float(self.results[key]) + offset
            if name in ('energy', 'free_energy'):
                value = self.results[name]
        return value

    def get_potential_energy(self, atoms: Any = None, force_consistent: bool = False) -> float:
        return self.get_property('free_energy' if force_consistent else 'energy', atoms)

    def get_forces(self, atoms: Any = None) -> Any:
        return self.get_property('forces', atoms)

    def get_stress(self, atoms: Any = None) -> Any:
        return self.get_property('stress', atoms)

    def calculation_required(self, atoms: Any, properties: Any) -> bool:
        return self._calc.calculation_required(atoms, properties)
