"""Sphinx configuration for the vaultbench spec.

The build runs offline and with warnings as errors (``.ci/run``)::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

No intersphinx mapping is configured on purpose: the build must not touch the network.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# ``import model, impl, proofs, vaultbench`` from the repository root, installed or not,
# and the local extensions under ``docs/_ext``.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

with (ROOT / "pyproject.toml").open("rb") as _f:
    _project_table = tomllib.load(_f)["project"]

# -- Project ----------------------------------------------------------------------------

project = "vaultbench"
author = "the vaultbench authors"
copyright = "the vaultbench authors"
release = str(_project_table["version"])
version = ".".join(release.split(".")[:2])

# -- General ----------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "vaultbench_output",
    "vaultbench_bibliography",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
primary_domain = "py"
default_role = "code"
nitpicky = False
todo_include_todos = False

# -- autodoc ----------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": False}

# -- doctest (``sphinx-build -b doctest docs /tmp/doctest``) ----------------------------

doctest_global_setup = "import model.vault as vault"

# -- vaultbench-output ------------------------------------------------------------------

# An exit code other than ``:expect-exit:`` aborts the build (ExtensionError) when True;
# when False it is reported as an error message, which ``-W`` also turns into a failure.
vaultbench_output_strict = True

# -- HTML -------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"vaultbench {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
pygments_style = "sphinx"
pygments_dark_style = "monokai"
