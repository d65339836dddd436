"""Sphinx configuration for the triobus documentation.

The build needs no network: intersphinx is deliberately not enabled, so
references to Trio, attrs or the standard library render as plain text.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Document the source tree itself, so the docs build also works without an
# installed copy of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

project = "triobus"
author = "the triobus developers"
copyright = "the triobus developers"
release = "0.1.0"
version = "0.1"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: ``:::`` fences for directives, and anchors on headings so pages can
# link to a section with ``[text](events.md#serialisation)``.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The public API is written with Google-style docstrings.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}

# Unresolvable cross-references are not warnings: without intersphinx, every
# mention of a Trio or attrs type would otherwise fail the -W build.
nitpicky = False

html_theme = "alabaster"
html_title = "triobus"
napoleon_use_ivar = True  # "Attributes:" sections would duplicate the attrs fields
