"""impl.logs: what the running system logs, and what it never does.

Every module of ``impl`` logs through ``logging.getLogger("vaultbench.impl.<module>")``
(:func:`logger`), at DEBUG for the steps of a flow and at INFO for what an operator of a
fleet would want in a log by default (a replica started, a leader elected, a record
destroyed). Nothing is printed unless the application configures logging: the package
adds a ``NullHandler`` to ``vaultbench`` (the library convention), and ``vaultbench
--log-level DEBUG`` turns it on for the CLI.

The rule, which ``tests/test_secret_hygiene.py`` enforces with canaries: a log record
carries identifiers (user id, registration number, replica index, epoch, slot, ballot),
counts, lengths, the names of types, flows and outcomes, and digests of public data. It
never carries a password, a PIN, a key, a released secret, an access key, backup
plaintext, or the bytes of a request or answer. A :class:`impl.redact.Secret` formats
as ``Secret(<n bytes redacted>)`` should one reach a message by mistake; ``bytes`` have
no such guard, which is why no log call in ``impl`` formats a ``bytes`` value.
"""

from __future__ import annotations

import logging
from typing import Final

ROOT: Final = "vaultbench"
IMPL: Final = f"{ROOT}.impl"

logging.getLogger(ROOT).addHandler(logging.NullHandler())


def logger(module: str) -> logging.Logger:
    """logger: the logger of ``impl`` module ``module`` (``__name__`` or a short name)."""
    short = module.removeprefix("impl.")
    return logging.getLogger(f"{IMPL}.{short}")
