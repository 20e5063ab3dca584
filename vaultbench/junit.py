"""vaultbench.junit: the reports ``vaultbench check`` writes for CI and for other tools.

:func:`junit_xml` turns a :class:`~vaultbench.cli.CheckOutcome` into JUnit XML, the format
CI services read test results from: one ``<testsuite>`` per invariant (the table's first
column, in the order the rows first name it), one ``<testcase>`` per row, named by its
obligation; a failing row (any result but ``PASS``, ``REACHABLE`` or ``N/A``) holds a
``<failure>`` whose ``type`` is the result, whose ``message`` is the row's detail and
whose text is the row's counterexamples and reproducer commands; an ``N/A`` row is
``<skipped>``. Times are in seconds. The document is built with ``xml.etree.ElementTree``
and depends only on the outcome: no timestamps or host names, so two runs differ only in
their times.

:func:`counterexamples_document` is the ``--save-counterexamples`` JSON: every
counterexample with its invariant, obligation, result, text and reproducer command.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from vaultbench.cli import CheckOutcome, Row

#: Row results that are not failures.
OK_RESULTS: Final = ("PASS", "REACHABLE", "N/A")

#: Characters XML 1.0 cannot carry at all (even escaped); replaced by U+FFFD.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _failed(row: Row) -> bool:
    return row.result not in OK_RESULTS


def junit_xml(outcome: CheckOutcome, variant: str | None = None) -> ET.Element:
    """junit_xml: the root ``<testsuites>`` of ``outcome``'s JUnit XML (see the module
    doc), indented."""
    suites: dict[str, list[int]] = {}
    for index, row in enumerate(outcome.rows):
        suites.setdefault(row.invariant, []).append(index)
    notes = outcome.notes_by_row()

    root = ET.Element("testsuites")
    root.set("name", f"vaultbench check ({variant or 'safe vault and fleet'})")
    for key, value in _counts(outcome.rows).items():
        root.set(key, value)
    for invariant, indices in suites.items():
        rows = [outcome.rows[i] for i in indices]
        suite = ET.SubElement(root, "testsuite", name=_text(invariant))
        for key, value in _counts(rows).items():
            suite.set(key, value)
        for index in indices:
            row = outcome.rows[index]
            case = ET.SubElement(
                suite,
                "testcase",
                name=_text(row.obligation),
                classname=_text(invariant),
                time=_seconds(row.seconds),
            )
            if row.result == "N/A":
                ET.SubElement(case, "skipped", message=_text(row.detail or "not applicable"))
            elif _failed(row):
                counterexamples, reproduce = notes.get(index, ([], []))
                failure = ET.SubElement(
                    case, "failure", type=_text(row.result), message=_text(row.detail or row.result)
                )
                parts = [*counterexamples, *(f"reproduce with: {c}" for c in reproduce)]
                failure.text = _text("\n\n".join(parts) if parts else row.detail or row.result)
            elif row.detail:
                ET.SubElement(case, "system-out").text = _text(row.detail)
    ET.indent(root)
    return root


def _counts(rows: list[Row]) -> dict[str, str]:
    return {
        "tests": str(len(rows)),
        "failures": str(sum(_failed(row) for row in rows)),
        "errors": "0",
        "skipped": str(sum(row.result == "N/A" for row in rows)),
        "time": _seconds(sum(row.seconds for row in rows)),
    }


def write_junit(path: str | Path, outcome: CheckOutcome, variant: str | None = None) -> None:
    """write_junit: write :func:`junit_xml` to ``path`` (UTF-8, with the declaration)."""
    document = ET.ElementTree(junit_xml(outcome, variant))
    document.write(path, encoding="utf-8", xml_declaration=True)


def counterexamples_document(
    outcome: CheckOutcome, variant: str | None = None
) -> dict[str, object]:
    """counterexamples_document: ``{"variant", "ok", "counterexamples": [...]}``, each
    counterexample ``{"invariant", "obligation", "result", "text", "reproduce"}`` (the
    reproducer command, or ``null``), in the order the check found them. The list is
    empty when every invariant holds."""
    found: list[dict[str, object]] = []
    notes = outcome.notes_by_row()
    for index, (counterexamples, reproduce) in notes.items():
        row = outcome.rows[index] if 0 <= index < len(outcome.rows) else None
        command = "\n".join(reproduce) if reproduce else None
        for text in counterexamples or [""]:
            found.append(
                {
                    "invariant": row.invariant if row else None,
                    "obligation": row.obligation if row else None,
                    "result": row.result if row else None,
                    "text": text,
                    "reproduce": command,
                }
            )
    return {"variant": variant, "ok": outcome.ok, "counterexamples": found}


def write_counterexamples(
    path: str | Path, outcome: CheckOutcome, variant: str | None = None
) -> None:
    """write_counterexamples: write :func:`counterexamples_document` to ``path`` as JSON."""
    document = counterexamples_document(outcome, variant)
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
