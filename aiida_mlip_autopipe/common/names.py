"""Names that tie stages together: the progress extra, frame ``info`` keys, the force-weight array.

One stage writes them and another reads them (the loop and the report, labelling and
training), so each is spelled once here.
"""

from __future__ import annotations

__all__ = ('FORCE_WEIGHT_ARRAY', 'FRAME_INFO_KEYS', 'PROGRESS_EXTRA')

#: Extra of a running ``ActiveLearningWorkChain`` with its generation, phase and history,
#: kept up to date by the work chain and read by ``aiida-mlip-autopipe status``.
PROGRESS_EXTRA = 'mlip_autopipe_progress'
#: Per-frame ``info`` keys that travel with a frame into pacemaker's DataFrame and back (besides the labels).
FRAME_INFO_KEYS = (
    'source_uuid',
    'workchain_uuid',
    'structure_uuid',
    'generation',
    'origin',
    'name',
    # Where the label came from (labelling.label_source): dft:pw.x or oracle:<name>, code, settings.
    'label_source',
    'label_code',
    'label_code_uuid',
    'label_settings',
)
#: Per-atom array of force weights: 1 for core atoms, lower for buffer atoms of cut-outs.
FORCE_WEIGHT_ARRAY = 'force_weight'
