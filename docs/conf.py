"""Sphinx configuration for the vaultbench spec.

The build runs offline and with warnings as errors (``.ci/run``)::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

No intersphinx mapping is configured on purpose: the build must not touch the network.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from sphinx.application import Sphinx

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
    "cli_reference",
    "msc",
    "bench_plots",
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
# No default options. (``{"show-inheritance": False}`` turned the flag *on*: autodoc
# reads any value given for a flag option as "set".) Pages ask for what they need, e.g.
# ``:show-inheritance:`` on ``impl.errors`` in the API reference.
autodoc_default_options: dict[str, str | bool] = {}

# Docstrings whose reST does not parse (docutils would warn, and ``-W`` fail the build),
# shown as a literal block instead until the docstring is fixed; see ``setup`` below.
# ``impl.messages``: "``Secret``s" (an inline literal must be followed by a space or
# punctuation). ``impl.observe``: the label ``ceremony/fleet-key-file`` is wider than the
# first column of its simple table.
api_verbatim_docstrings: set[str] = set()

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


# -- setup ------------------------------------------------------------------------------


def _verbatim_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Show the docstrings listed in ``api_verbatim_docstrings`` as literal blocks."""
    if name in api_verbatim_docstrings and lines:
        lines[:] = ["::", "", *(f"   {line}" if line else "" for line in lines), ""]


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _verbatim_docstring)
