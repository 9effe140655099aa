"""Sphinx configuration of the aiida-mlip-autopipe documentation."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from _config_reference import write_config_reference  # noqa: E402

import aiida_mlip_autopipe  # noqa: E402

project = 'aiida-mlip-autopipe'
author = 'aiida-mlip-autopipe developers'
copyright = '2026, aiida-mlip-autopipe developers'
release = aiida_mlip_autopipe.__version__
version = release

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx_click',
    'aiida.sphinxext',
]
myst_enable_extensions = ['colon_fence', 'deflist']
myst_heading_anchors = 3
source_suffix = {'.md': 'markdown', '.rst': 'restructuredtext'}
exclude_patterns = ['_build', '_config_reference.py']
html_theme = 'furo'
html_title = 'aiida-mlip-autopipe'
nitpicky = False
autodoc_typehints = 'none'
# No intersphinx: the docs must build offline, without warnings.
suppress_warnings = ['config.cache']

# The configuration reference is generated from the pydantic models, so it never drifts.
write_config_reference(Path(__file__).parent / 'reference' / 'config_fields.md')
