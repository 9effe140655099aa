"""Keys that moved when the config was laid out by stage: the error says where each one went.

A config written for an earlier release would otherwise get ``unknown key 'surrogate'``
and leave its author guessing; these messages name the new home of every moved key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ('MOVED_KEYS', 'moved_key_message')

#: Location of an old key (as in the YAML) and what to do instead.
MOVED_KEYS: dict[tuple[str, ...], str] = {
    ('surrogate',): 'this section was split in two: move model, max_force, energy_window, min_distance_factor, '
    'batch_size, device to screening: and n_select, duplicate_distance, descriptor to selection:',
    ('loop', 'calibrate_gamma'): 'moved to uncertainty.calibrate',
    ('loop', 'gamma_bounds'): 'moved to uncertainty.bounds',
    ('loop', 'calibration_error'): 'moved to uncertainty.error_target',
    ('loop', 'reuse_pool'): 'moved to uncertainty.reuse_pool',
    ('dft', 'oracle'): 'moved to benchmark.oracle (a section of its own: the oracle is for method benchmarks '
    'only, its labels are not DFT); write benchmark: {oracle: emt}',
}


def moved_key_message(loc: Sequence[Any]) -> str | None:
    """Where the key at ``loc`` went, or ``None`` when it never existed."""
    return MOVED_KEYS.get(tuple(loc))
