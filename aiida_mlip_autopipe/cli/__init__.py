"""Command line interface ``aiida-mlip-autopipe``.

Heavy imports live inside the command bodies so that ``--help`` answers at once.
"""

from . import config as _config  # noqa: F401  (registers validate, schema)
from . import run as _run  # noqa: F401  (registers run, status, report, export)
from . import setup as _setup  # noqa: F401  (registers setup)
from .root import cmd_root

__all__ = ('cmd_root',)
