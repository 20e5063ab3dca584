"""vaultbench_bibliography: a bibliography page whose entries need not all be cited.

Sphinx warns about every citation no page refers to (``Citation [X] is not referenced``),
which under ``-W`` fails the build. A bibliography lists works the spec relies on or
compares against, some of which no page cites yet; this extension marks the citations
*defined in* the bibliography document (``vaultbench_bibliography_doc``, default
``"bibliography"``) as referenced from it, just before Sphinx checks consistency.

It changes nothing else: a citation defined twice still warns (``duplicate citation``),
a citation defined on any other page still has to be cited, and a reference to a
citation that does not exist still warns (``citation not found``).
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.typing import ExtensionMetadata


def _mark_bibliography_cited(app: Sphinx, env: BuildEnvironment) -> None:
    bibliography: str = app.config.vaultbench_bibliography_doc
    domain = env.domains.citation_domain
    for label, (docname, _node_id, _line) in domain.citations.items():
        if docname == bibliography:
            domain.citation_refs.setdefault(label, set()).add(bibliography)


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_config_value(
        "vaultbench_bibliography_doc", "bibliography", "env", types=frozenset({str})
    )
    app.connect("env-updated", _mark_bibliography_cited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
