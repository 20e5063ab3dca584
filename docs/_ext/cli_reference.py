"""cli_reference: the command-line reference, generated from the argparse parser itself.

Usage in a page, at the end of a section (the directive adds one subsection per
command)::

    .. vaultbench-cli::

    .. vaultbench-cli::
       :commands: check simulate
       :no-overview:

At build time the directive imports the parser factory (``:parser:``, default
``vaultbench.cli:build_parser``), calls it, and renders what it finds, so the reference
always shows the commands and options the code has, with nothing typed twice:

- an overview (unless ``:no-overview:``): the program's description, its usage line and
  a table of its commands with their one-line help;
- for every command, in the parser's order (or those named by ``:commands:``), a section
  titled ``vaultbench COMMAND`` with the label ``cli-COMMAND`` (``:ref:`cli-check```): the
  command's description, its usage as argparse prints it (at a fixed width of 88
  columns, so the output does not depend on the terminal), and each argument group as a
  definition list: the option strings with their metavar, the help text (``%(default)s``
  and friends expanded as argparse does), then the parser's default, the choices,
  "required" and the options it is mutually exclusive with. ``-h/--help`` is left out of
  the commands (the overview says every command has it). A command with commands of its
  own gets nested sections.

Every option is also registered with Sphinx's standard domain as a ``cmdoption`` of the
program ``vaultbench COMMAND``, so ``:option:`vaultbench check --seed``` links to it and
the general index lists it, exactly as ``.. program::`` + ``.. option::`` would.

Help texts are shown verbatim (no reST), as ``--help`` shows them. The page is re-read
whenever a source file of the modules the parser pulled in changes (``note_dependency``).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_id
from sphinx.util.typing import ExtensionMetadata

#: The width argparse formats usage lines at, whatever the terminal.
USAGE_WIDTH = 88

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def load_parser(spec: str) -> argparse.ArgumentParser:
    """load_parser: call the factory ``module:function`` and return its parser."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"expected 'module:function', got {spec!r}")
    module = importlib.import_module(module_name)
    factory = getattr(module, func_name)
    parser = factory()
    if not isinstance(parser, argparse.ArgumentParser):
        raise TypeError(f"{spec} returned {type(parser).__name__}, not an ArgumentParser")
    return parser


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """subcommands: (name, one-line help, parser) for each command, in the parser's order.

    Aliases are skipped (argparse maps them to the same parser)."""
    out: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            out.append((name, helps.get(name, ""), sub))
    return out


def usage(parser: argparse.ArgumentParser) -> str:
    """usage: the parser's usage text at ``USAGE_WIDTH`` columns."""
    formatter = _formatter(parser)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return _ANSI.sub("", formatter.format_help()).strip()


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    try:
        return parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)  # type: ignore[call-arg]
    except TypeError:
        return argparse.HelpFormatter(prog=parser.prog, width=USAGE_WIDTH)


def expand_help(action: argparse.Action, prog: str) -> str:
    """expand_help: the action's help with ``%(...)s`` filled in, as argparse does."""
    text = action.help or ""
    if "%" not in text:
        return text
    params: dict[str, Any] = dict(vars(action), prog=prog)
    for name in list(params):
        value = params[name]
        if value is argparse.SUPPRESS:
            del params[name]
        elif hasattr(value, "__name__"):
            params[name] = value.__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    return text % params


def option_term(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    """option_term: ``-s, --seed SEED``; choices appear in the body, not as ``{a,b,...}``."""
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar: Any = action.metavar
    if metavar is None:
        metavar = action.dest.upper()
    formatter = _formatter(parser)
    probe = argparse.Action(action.option_strings, action.dest, nargs=action.nargs, metavar=metavar)
    args = formatter._format_args(probe, metavar)
    return ", ".join(f"{opt} {args}" for opt in action.option_strings)


def show_value(value: object) -> str:
    """show_value: a default or a choice as a user would type it."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, set | frozenset):
        return ",".join(sorted(show_value(v) for v in value))
    if isinstance(value, list | tuple):
        return " ".join(show_value(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if value == "":
        return '""'
    return str(value)


def has_default(action: argparse.Action) -> bool:
    """has_default: the option takes a value and has a default worth showing (not an
    empty list, as for an option that may be repeated)."""
    default = action.default
    if isinstance(default, list | tuple | set | frozenset | dict) and not default:
        return False
    return (
        action.nargs != 0
        and default is not None
        and default is not argparse.SUPPRESS
        and not isinstance(action, argparse._SubParsersAction)
    )


# ---------------------------------------------------------------------------------------
# The directive.


def _commands_option(text: str | None) -> list[str]:
    return [name for name in re.split(r"[\s,]+", text or "") if name]


class CliReference(SphinxDirective):
    """``.. vaultbench-cli::``: the CLI reference from the parser (module docstring)."""

    has_content = False
    required_arguments = 0
    optional_arguments = 0
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "parser": directives.unchanged_required,
        "commands": _commands_option,
        "no-overview": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        spec: str = self.options.get("parser", self.config.cli_reference_parser)
        try:
            parser = load_parser(spec)
        except Exception as exc:
            raise self.error(f"vaultbench-cli: cannot build the parser {spec}: {exc}") from exc
        self._note_sources(spec)

        commands = subcommands(parser)
        wanted: list[str] = self.options.get("commands", [])
        if wanted:
            known = {name for name, _, _ in commands}
            unknown = [name for name in wanted if name not in known]
            if unknown:
                raise self.error(
                    f"vaultbench-cli: no command {', '.join(unknown)} in {spec} "
                    f"(it has: {', '.join(sorted(known))})"
                )
            commands = [c for c in commands if c[0] in wanted]

        out: list[nodes.Node] = []
        if "no-overview" not in self.options:
            out.extend(self._overview(parser, commands))
        for name, _help, sub in commands:
            out.append(self._command(sub, [name]))
        return out

    # --------------------------------------------------------------------- pieces

    def _overview(
        self,
        parser: argparse.ArgumentParser,
        commands: Sequence[tuple[str, str, argparse.ArgumentParser]],
    ) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        if parser.description:
            out.extend(_paragraphs(parser.description, parser))
        out.append(_literal(usage(parser)))
        groups = self._groups(parser, skip_help=True, path=[])
        out.extend(groups)
        if commands:
            out.append(self._command_table(commands, []))
        help_action = next(
            (a for a in parser._actions if isinstance(a, argparse._HelpAction)), None
        )
        if help_action is not None:
            para = nodes.paragraph()
            para += nodes.Text("Every command also accepts ")
            para += nodes.literal(text=", ".join(help_action.option_strings))
            para += nodes.Text(": print its usage and options, and exit 0.")
            out.append(para)
        return out

    def _command_table(
        self, commands: Sequence[tuple[str, str, argparse.ArgumentParser]], path: list[str]
    ) -> nodes.table:
        table = nodes.table(classes=["cli-commands"])
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=25)
        group += nodes.colspec(colwidth=75)
        head = nodes.thead()
        group += head
        head += _row([nodes.Text("command")], [nodes.Text("what it does")])
        body = nodes.tbody()
        group += body
        for name, help_text, _sub in commands:
            ref = nodes.reference("", "", internal=True, refid=_section_id([*path, name]))
            ref += nodes.literal(text=name)
            body += _row([ref], [nodes.Text(help_text)])
        table["support_smartquotes"] = False
        return table

    def _command(self, parser: argparse.ArgumentParser, path: list[str]) -> nodes.section:
        section_id = _section_id(path)
        section = nodes.section(ids=[section_id], names=[section_id])
        title = nodes.title()
        title += nodes.literal(text=parser.prog)
        section += title
        self.state.document.note_explicit_target(section)
        self.set_source_info(section)

        if parser.description:
            section.extend(_paragraphs(parser.description, parser))
        section += _literal(usage(parser))
        section.extend(self._groups(parser, skip_help=True, path=path))
        if parser.epilog:
            section.extend(_paragraphs(parser.epilog, parser))
        nested = subcommands(parser)
        if nested:
            section += self._command_table(nested, path)
            for name, _help, sub in nested:
                section += self._command(sub, [*path, name])
        return section

    def _groups(
        self, parser: argparse.ArgumentParser, *, skip_help: bool, path: list[str]
    ) -> list[nodes.Node]:
        program = "-".join(parser.prog.split())
        exclusive: dict[int, list[argparse.Action]] = {}
        for mutex in parser._mutually_exclusive_groups:
            for action in mutex._group_actions:
                exclusive[id(action)] = [a for a in mutex._group_actions if a is not action]

        out: list[nodes.Node] = []
        for group in parser._action_groups:
            actions = [
                a
                for a in group._group_actions
                if a.help is not argparse.SUPPRESS
                and not isinstance(a, argparse._SubParsersAction)
                and not (skip_help and isinstance(a, argparse._HelpAction))
            ]
            if not actions:
                continue
            out.append(nodes.rubric(text=_capitalize(group.title or "arguments")))
            if group.description:
                out.extend(_paragraphs(group.description, parser))
            items = nodes.definition_list(classes=["cli-options"])
            for action in actions:
                items += self._item(action, parser, program, exclusive.get(id(action), []))
            out.append(items)
        return out

    def _item(
        self,
        action: argparse.Action,
        parser: argparse.ArgumentParser,
        program: str,
        others: Sequence[argparse.Action],
    ) -> nodes.definition_list_item:
        item = nodes.definition_list_item()
        term = nodes.term()
        term += nodes.literal(text=option_term(action, parser))
        self._register(action, program, term)
        item += term
        definition = nodes.definition()
        item += definition

        text = expand_help(action, parser.prog)
        if text:
            definition += _verbatim(text)
        facts = nodes.paragraph(classes=["cli-facts"])
        first = True

        def fact(label: str, values: Iterable[str], sep: str = ", ") -> None:
            nonlocal first
            if not first:
                facts.append(nodes.Text("; "))
            first = False
            facts.append(nodes.emphasis(text=label))
            values = list(values)
            for k, value in enumerate(values):
                facts.append(nodes.Text(" " if k == 0 else sep))
                facts.append(nodes.literal(text=value))

        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            fact("choices:", [show_value(c) for c in action.choices])
        if has_default(action):
            fact("default:", [show_value(action.default)])
        if action.option_strings and action.required:
            fact("required", [])
        if not action.option_strings and action.nargs in ("?", "*"):
            fact("optional", [])
        if others:
            fact("not with", [", ".join(o.option_strings) or o.dest for o in others])
        if isinstance(action, argparse._AppendAction | argparse._CountAction):
            fact("may be repeated", [])
        if not first:
            facts.append(nodes.Text("."))
            definition += facts
        return item

    def _register(self, action: argparse.Action, program: str, term: nodes.term) -> None:
        """Make the option a ``std:cmdoption`` of ``program`` (as ``.. option::`` does)."""
        names = list(action.option_strings) or [option_term(action, argparse.ArgumentParser())]
        prefix = f"cmdoption-{program}" if action.option_strings else f"cmdoption-{program}-arg"
        node_id = make_id(self.env, self.state.document, prefix, names[0])
        term["ids"].append(node_id)
        self.state.document.note_explicit_target(term)
        domain = self.env.domains.standard_domain
        docname = self.env.current_document.docname
        index = addnodes.index(entries=[])
        described = " ".join(program.split("-"))
        for name in names:
            domain.add_program_option(program, name, docname, node_id)
            entry = f"{described} command line option; {name}"
            index["entries"].append(("pair", entry, node_id, "", None))
        term.insert(0, index)

    def _note_sources(self, spec: str) -> None:
        """Re-read this page when a source file of the parser's modules changes."""
        top = spec.partition(":")[0].split(".")[0]
        package = sys.modules.get(top)
        package_file = getattr(package, "__file__", None)
        if package_file is None:
            return
        root = Path(package_file).resolve().parent.parent
        for name in sorted(sys.modules):
            source = getattr(sys.modules[name], "__file__", None)
            if not source or not source.endswith(".py"):
                continue
            path = Path(source).resolve()
            if path.is_relative_to(root) and "docs" not in path.relative_to(root).parts[:1]:
                self.env.note_dependency(str(path))


def _section_id(path: Sequence[str]) -> str:
    return "cli-" + "-".join(path)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _literal(text: str) -> nodes.literal_block:
    block = nodes.literal_block(text, text)
    block["language"] = "text"
    block["classes"].append("cli-usage")
    return block


def _paragraphs(text: str, parser: argparse.ArgumentParser) -> list[nodes.Node]:
    """A description or epilog: reflowed paragraphs, or verbatim for the raw formatters."""
    text = text.replace("%(prog)s", parser.prog)
    if issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter):
        return [_literal(text.strip("\n"))]
    out: list[nodes.Node] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        out.append(_verbatim(" ".join(chunk.split())))
    return out


def _verbatim(text: str) -> nodes.paragraph:
    """A paragraph of text as the parser has it: no smart quotes or dashes (``--x``)."""
    para = nodes.paragraph(text, text)
    para["support_smartquotes"] = False
    return para


def _row(*cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for content in cells:
        entry = nodes.entry()
        para = nodes.paragraph()
        para.extend(content)
        entry += para
        row += entry
    return row


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_config_value(
        "cli_reference_parser", "vaultbench.cli:build_parser", "env", types=frozenset({str})
    )
    app.add_directive("vaultbench-cli", CliReference)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
