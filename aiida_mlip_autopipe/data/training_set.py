"""A set of labelled frames (energy, forces, stress) stored as one extended-XYZ file.

One node per training set keeps provenance readable (a calcfunction turns N labels
into one set that a fit consumes) and extxyz is the format every MLIP code reads. Each
frame carries the UUID of the data node it came from, so a frame can always be traced
back to the DFT calculation that produced it, and the source of its label (``dft:pw.x``
with code and settings, or ``oracle:emt``), counted per set in ``label_sources``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from aiida import orm

__all__ = ('TrainingSetData',)


def _frame_copy(atoms: Any) -> Any:
    """A copy of ``atoms`` with its results in a SinglePointCalculator, checked for completeness."""
    from ase.calculators.singlepoint import SinglePointCalculator

    calc = atoms.calc
    if calc is None or 'energy' not in calc.results or 'forces' not in calc.results:
        raise ValueError('every frame needs energy and forces in atoms.calc.results')
    results = {k: np.array(v, dtype=float) if k != 'energy' else float(v) for k, v in calc.results.items()}
    if k := [k for k in ('energy', 'forces', 'stress') if k in results and not np.all(np.isfinite(results[k]))]:
        raise ValueError(f'frame has non-finite {k}')
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(
        copy, **{k: results[k] for k in ('energy', 'forces', 'stress', 'free_energy') if k in results}
    )
    return copy


class TrainingSetData(orm.SinglefileData):
    """Labelled frames in one extxyz file, with counts and elements as attributes."""

    DEFAULT_FILENAME = 'training_set.extxyz'

    @classmethod
    def from_frames(cls, frames: Sequence[Any], filename: str | None = None, **kwargs: Any) -> TrainingSetData:
        """Make an unstored set from ASE ``Atoms`` that carry energy/forces(/stress) results."""
        from ase.io import write

        frames = [_frame_copy(f) for f in frames]
        handle = io.StringIO()
        if frames:
            write(handle, frames, format='extxyz')
        node = cls(io.BytesIO(handle.getvalue().encode()), filename=filename or cls.DEFAULT_FILENAME, **kwargs)
        node._set_summary(frames)
        return node

    def _set_summary(self, frames: Sequence[Any]) -> None:
        elements = sorted({s for f in frames for s in f.get_chemical_symbols()})
        self.base.attributes.set('num_frames', len(frames))
        self.base.attributes.set('num_atoms', int(sum(len(f) for f in frames)))
        self.base.attributes.set('elements', elements)
        self.base.attributes.set('has_stress', bool(frames) and all('stress' in f.calc.results for f in frames))
        self.base.attributes.set('source_uuids', [f.info.get('source_uuid') for f in frames])
        from aiida_mlip_autopipe.labelling.label_source import summarise_label_sources

        counts, origins = summarise_label_sources(frames)
        self.base.attributes.set('label_sources', counts)
        self.base.attributes.set('label_origins', origins)

    @property
    def num_frames(self) -> int:
        """Number of labelled frames."""
        return self.base.attributes.get('num_frames', 0)

    @property
    def elements(self) -> list[str]:
        """Sorted chemical symbols present in the set."""
        return self.base.attributes.get('elements', [])

    @property
    def label_sources(self) -> dict[str, int]:
        """Frames per label source: ``{'dft:pw.x': 24}``, ``{'oracle:emt': 40}``; ``unknown`` for imported frames."""
        return dict(self.base.attributes.get('label_sources', None) or {})

    @property
    def label_origins(self) -> list[dict[str, Any]]:
        """Each distinct source with its code, settings (functional, pseudos, cutoffs, k-points...) and frame count."""
        return list(self.base.attributes.get('label_origins', None) or [])

    @property
    def label_description(self) -> str:
        """One phrase for reports and plots: ``'DFT (pw.x)'``, ``'EMT oracle (benchmark, NOT DFT)'``, or a mix."""
        from aiida_mlip_autopipe.labelling.label_source import describe_label_sources

        return describe_label_sources(self.label_sources)

    @property
    def source_uuids(self) -> list[str | None]:
        """UUID of the data node each frame came from, in frame order."""
        return self.base.attributes.get('source_uuids', [])

    def get_frames(self) -> list[Any]:
        """The frames as ASE ``Atoms`` with a SinglePointCalculator holding the labels."""
        from ase.io import read

        if self.num_frames == 0:
            return []
        with self.open(mode='r') as handle:
            frames = read(handle, index=':', format='extxyz')
        return list(frames)

    def to_dataframe(self, buffer_weight: float | None = None, weights: bool | None = None) -> Any:
        """Pacemaker's pandas DataFrame (``name, ase_atoms, energy, energy_corrected, forces``, ...).

        See :func:`aiida_mlip_autopipe.training.export.frames_to_dataframe`: stress and
        the frames' provenance keys (``source_uuid``...) come along; with ``weights``
        (or, for backward compatibility, any ``buffer_weight``) the per-atom force
        weights of the frames go into pacemaker's ``w_forces`` column (1 where a frame
        has none) and ``w_energy`` is 1 per structure.
        """
        from aiida_mlip_autopipe.training.export import frames_to_dataframe

        use_weights = weights if weights is not None else buffer_weight is not None
        return frames_to_dataframe(self.get_frames(), weights=use_weights)

    @classmethod
    def from_dataframe(cls, frame: Any, **kwargs: Any) -> TrainingSetData:
        """Inverse of :meth:`to_dataframe` (weights and provenance keys are kept)."""
        from aiida_mlip_autopipe.training.export import dataframe_to_frames

        return cls.from_frames(dataframe_to_frames(frame), **kwargs)

    @classmethod
    def from_extxyz(cls, path: str, **kwargs: Any) -> TrainingSetData:
        """An unstored set from an extxyz file whose frames carry energy and forces."""
        from aiida_mlip_autopipe.training.export import read_extxyz

        return cls.from_frames(read_extxyz(path), **kwargs)

    def write_pacemaker_dataset(self, path: str, weights: bool = True) -> None:
        """Write the set as pacemaker's gzip-pickled DataFrame (pickle protocol 4)."""
        from aiida_mlip_autopipe.training.export import write_pacemaker_dataset

        write_pacemaker_dataset(self.get_frames(), path, weights=weights)

    def write_extxyz(self, path: str) -> None:
        """Write the set to ``path`` (extxyz, readable by ASE and most MLIP codes)."""
        with self.open(mode='rb') as source, open(path, 'wb') as target:
            target.write(source.read())

    @staticmethod
    def merge_frames(sets: Iterable[TrainingSetData]) -> list[Any]:
        """All frames of several sets, dropping repeated sources (same ``source_uuid``)."""
        seen: set[str] = set()
        frames = []
        for node in sets:
            for atoms in node.get_frames():
                uuid = atoms.info.get('source_uuid')
                if uuid is not None and uuid in seen:
                    continue
                if uuid is not None:
                    seen.add(uuid)
                frames.append(atoms)
        return frames
