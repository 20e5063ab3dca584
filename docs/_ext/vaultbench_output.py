"""vaultbench_output: show real ``vaultbench`` output in the docs, run at build time.

Usage in a page::

    .. vaultbench-output:: check --variant no-destroy
       :expect-exit: 1

The directive runs the CLI *in process*: it imports ``vaultbench.cli`` (lazily, when the
first directive runs), calls ``main(argv)`` with the arguments split as a shell would
(``shlex``), captures what it writes to stdout, and inserts that text as a literal block
preceded by the command line. The exit code must equal ``:expect-exit:`` (default 0);
otherwise the build stops with an ``ExtensionError`` that shows the command, both exit
codes and the captured output. So a page can never show output the code no longer
produces, or a failure nobody expected.

Options:

``:expect-exit: N``
    the exit code the command must return (default ``0``);
``:stderr:``
    (flag) append what the command wrote to stderr to the block (argparse's usage
    errors go there);
``:no-prompt:``
    (flag) omit the ``$ vaultbench ...`` line at the top of the block.

Commands run with the repository's root (the parent of the docs directory) as the
working directory, so a page can name its files (``check --config examples/fleet.toml``).

The second directive shows what Python code prints, for output no CLI command isolates
(one counterexample of a report, a quorum check)::

    .. vaultbench-python::
       :head: 12

       from proofs.paxos_i2 import check_i2
       print(check_i2("minority-quorum").bmc.trace.render())

The code runs at build time in a fresh interpreter (``sys.executable -c``, from the
repository's root): Z3 keeps state within a process and could otherwise pick another run
of the same length than the command a reader types. What it prints becomes a literal
block. ``:head: N`` keeps the first N lines (and says how many
were left out); ``:show-code:`` shows the code above the output; ``:contains: A | B``
stops the build unless the output contains each of the ``|``-separated strings (what the
page's prose says about it: a solver that picks another run of the same length breaks
the build, not the page). A non-zero exit (an exception) stops the build, as a wrong exit code does.

Configuration (``conf.py``):

``vaultbench_output_strict`` (default ``True``)
    ``True``: a wrong exit code aborts the build. ``False``: it is reported as an error
    message in the page, which ``sphinx-build -W`` still turns into a failed build.

Every page that uses the directive is re-read on every build (``env-get-outdated``), so
its output is never served stale from the doctree cache after the code changed.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

#: The environment attribute that remembers which documents use the directive.
_ENV_ATTR = "vaultbench_output_docs"

#: ANSI escape sequences (colour, cursor), stripped in case the CLI styles its output.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

CliMain = Callable[[list[str]], int | None]


def _load_main() -> CliMain:
    """Import ``vaultbench.cli.main`` on first use (the CLI may not exist at config time)."""
    from vaultbench.cli import main  # lazy on purpose

    return main


def run_cli(argv: Sequence[str], main: CliMain | None = None) -> tuple[int, str, str]:
    """Run the CLI in process on ``argv``; return (exit code, stdout, stderr).

    ``SystemExit`` (argparse on a usage error, or an explicit ``sys.exit``) is turned into
    its exit code, as the shell would see it.
    """
    entry = _load_main() if main is None else main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returned = entry(list(argv))
        except SystemExit as stop:
            returned = _exit_code(stop.code)
    code = 0 if returned is None else int(returned)
    return code, _ANSI.sub("", out.getvalue()), _ANSI.sub("", err.getvalue())


_WORKDIR: list[str] = []


def _workdir() -> str:
    """The build's scratch directory, created on first use."""
    if not _WORKDIR:
        _WORKDIR.append(tempfile.mkdtemp(prefix="vaultbench-docs-"))
    return _WORKDIR[0]


def _exit_code(value: object) -> int:
    """The exit status ``sys.exit(value)`` gives a shell."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return 1


class VaultbenchOutput(SphinxDirective):
    """``.. vaultbench-output:: <argv...>``: the output of ``vaultbench <argv...>``."""

    has_content = False
    required_arguments = 1
    optional_arguments = 0
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "expect-exit": directives.nonnegative_int,
        "stderr": directives.flag,
        "no-prompt": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        # ``{workdir}`` stands for a scratch directory made once per build (for commands
        # that write files, such as ``deploy``); pages show it as ``.``.
        workdir = _workdir()
        shown_argv = shlex.split(self.arguments[0].replace("{workdir}", "."))
        argv = shlex.split(self.arguments[0].replace("{workdir}", workdir))
        expected: int = self.options.get("expect-exit", 0)
        command = shlex.join(["vaultbench", *shown_argv])
        self._note_usage()
        if not self.config.vaultbench_output_run:
            # A builder that does not publish the output (the doctest run): the html
            # build ran and checked every command already; do not run them twice.
            text = f"$ {command}\n(output generated by the html build)"
            return [nodes.literal_block(text, text)]

        try:
            # Commands run from the repository's root, so pages can name its files
            # (``check --config examples/fleet.toml``) however the build is started.
            with contextlib.chdir(Path(self.env.srcdir).parent):
                code, out, err = run_cli(argv)
        except ImportError as exc:
            raise self._failure(f"cannot import vaultbench.cli for `{command}`: {exc}") from exc
        except Exception as exc:
            raise self._failure(f"`{command}` raised {type(exc).__name__}: {exc}") from exc

        if code != expected:
            message = (
                f"`{command}` exited {code}, the page expects {expected} "
                f"(:expect-exit:)\n--- stdout ---\n{out}--- stderr ---\n{err}"
            )
            if self.config.vaultbench_output_strict:
                raise self._failure(message)
            return [self.state.document.reporter.error(message, line=self.lineno)]

        out, err = out.replace(workdir, "."), err.replace(workdir, ".")
        shown = out
        if "stderr" in self.options and err:
            shown = shown + ("" if not shown or shown.endswith("\n") else "\n") + err
        lines = [] if "no-prompt" in self.options else [f"$ {command}"]
        lines.extend(shown.rstrip("\n").splitlines())
        text = "\n".join(lines)

        block = nodes.literal_block(text, text)
        block["language"] = "console" if "no-prompt" not in self.options else "text"
        block["classes"].append("vaultbench-output")
        self.set_source_info(block)
        return [block]

    def _failure(self, message: str) -> ExtensionError:
        where = f"{self.env.doc2path(self.env.docname)}:{self.lineno}"
        return ExtensionError(f"vaultbench-output at {where}: {message}")

    def _note_usage(self) -> None:
        used: set[str] = getattr(self.env, _ENV_ATTR, set())
        used.add(self.env.docname)
        setattr(self.env, _ENV_ATTR, used)


class VaultbenchPython(SphinxDirective):
    """``.. vaultbench-python::`` with Python code as content: what the code prints."""

    has_content = True
    required_arguments = 0
    optional_arguments = 0
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "head": directives.positive_int,
        "show-code": directives.flag,
        "contains": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        code = "\n".join(self.content)
        used: set[str] = getattr(self.env, _ENV_ATTR, set())
        used.add(self.env.docname)
        setattr(self.env, _ENV_ATTR, used)
        shown: list[nodes.Node] = []
        if "show-code" in self.options:
            source = nodes.literal_block(code, code)
            source["language"] = "python"
            shown.append(source)
        if not self.config.vaultbench_output_run:
            text = "(output generated by the html build)"
            return [*shown, nodes.literal_block(text, text)]
        where = f"{self.env.doc2path(self.env.docname)}:{self.lineno}"
        # A fresh interpreter per block: Z3 keeps state across calls in one process, and
        # may then pick another run of the same length than ``vaultbench`` prints.
        done = subprocess.run(  # noqa: S603 -- the page's own code, run as the author wrote it
            [sys.executable, "-c", code],
            cwd=Path(self.env.srcdir).parent,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise ExtensionError(
                f"vaultbench-python at {where}: the code exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}"
            )
        lines = _ANSI.sub("", done.stdout).rstrip("\n").splitlines()
        if not lines:
            raise ExtensionError(f"vaultbench-python at {where}: the code printed nothing")
        printed = "\n".join(lines)
        wanted = [w.strip() for w in self.options.get("contains", "").split("|") if w.strip()]
        missing = [w for w in wanted if w not in printed]
        if missing:
            raise ExtensionError(
                f"vaultbench-python at {where}: the output no longer contains {missing!r}, "
                f"which the page's prose relies on:\n{printed}"
            )
        head = self.options.get("head")
        if head is not None and len(lines) > head:
            lines = [*lines[:head], f"   ... ({len(lines) - head} more lines)"]
        text = "\n".join(lines)
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        block["classes"].append("vaultbench-output")
        self.set_source_info(block)
        return [*shown, block]


# ---------------------------------------------------------------------------------------
# Environment bookkeeping: re-read pages that run the CLI on every build.


def _purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, _ENV_ATTR, set()).discard(docname)


def _merge_info(
    app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment
) -> None:
    mine: set[str] = getattr(env, _ENV_ATTR, set())
    mine.update(getattr(other, _ENV_ATTR, set()))
    setattr(env, _ENV_ATTR, mine)


def _always_outdated(
    app: Sphinx,
    env: BuildEnvironment,
    added: set[str],
    changed: set[str],
    removed: set[str],
) -> list[str]:
    used: set[str] = getattr(env, _ENV_ATTR, set())
    return sorted(used - removed)


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_config_value("vaultbench_output_strict", True, "env", types=frozenset({bool}))
    # ``-D vaultbench_output_run=0`` (the doctest build): show the commands, do not run them.
    app.add_config_value("vaultbench_output_run", True, "env", types=frozenset({bool, int}))
    app.add_directive("vaultbench-output", VaultbenchOutput)
    app.add_directive("vaultbench-python", VaultbenchPython)
    app.connect("env-purge-doc", _purge_doc)
    app.connect("env-merge-info", _merge_info)
    app.connect("env-get-outdated", _always_outdated)
    return {
        "version": "1.0",
        "env_version": 1,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
