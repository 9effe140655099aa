"""The one configuration file of a run: loading, error messages and the model that composes the stages' sections.

Everything a user can set is validated before anything is submitted, so a typo or an
impossible value costs seconds instead of a queue slot. Each stage owns its section
(``aiida_mlip_autopipe.<stage>.config``); :class:`~aiida_mlip_autopipe.config.model.MLIPConfig`
only composes them and checks what spans sections. The models are pure (no database
access); checks that need the AiiDA profile are in :func:`check_against_profile`.

``MLIPConfig`` is imported on first use: the stage section modules import
:mod:`aiida_mlip_autopipe.config.base`, which runs this file first, and the model imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiida_mlip_autopipe.candidates.structure_file import check_structure_file
from aiida_mlip_autopipe.config.errors import ConfigError
from aiida_mlip_autopipe.config.loading import load_config, parse_config
from aiida_mlip_autopipe.config.profile import check_against_profile

if TYPE_CHECKING:
    from aiida_mlip_autopipe.config.model import MLIPConfig

__all__ = (
    'ConfigError',
    'MLIPConfig',
    'check_against_profile',
    'check_structure_file',
    'load_config',
    'parse_config',
)


def __getattr__(name: str) -> Any:
    if name == 'MLIPConfig':
        from aiida_mlip_autopipe.config.model import MLIPConfig

        return MLIPConfig
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
