"""Sphinx configuration of pysampled's documentation site.

Build (warnings are errors):  python -m sphinx -W --keep-going -b html docs docs/_build/html
The API pages document the *installed* pysampled (autodoc imports it).
"""
import os
import sys

import pysampled

project = "pysampled"
author = "pysampled authors"
copyright = "pysampled authors, Apache-2.0"
version = release = pysampled.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "GUARANTEES.md", "SPEC.md", "ARCHITECTURE.md", "DISTRIBUTED.md", "README.md"]
suppress_warnings = ["myst.header", "myst.xref_missing"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections carry the types; stubs carry the annotations
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # offline builds: no inventories fetched
html_theme = "alabaster"
html_static_path = []
html_title = f"pysampled {release}"
nitpicky = False
sys.path.insert(0, os.path.dirname(__file__))
