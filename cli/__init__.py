"""The ``heurist`` command line. Each sub-command is one module in this package that defines
``register(subparsers)``; it adds its parser and sets ``func`` (called with the parsed args, returns
the exit code).

``COMMANDS`` lists the sub-commands with their one-line help, so ``heurist --help`` imports none of
them and answers at once; a call imports only the module of its own sub-command. A new sub-command
adds its module and one line here (``tests/test_cli_startup.py`` checks the two agree).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, str] = {
    "export": "write a training checkpoint as a policy artifact (safetensors + JSON)",
    "inspect": "print and check a policy artifact's manifest",
    "kv": "KV-cache eviction policies on SmolLM2-135M",
    "plan": "plan buffer offsets of a MiniMalloc CSV (packing or mapping)",
    "route": "solve PVRP instances (PyVRP, OR-Tools or a heuristic)",
    "serve-bench": "vLLM prefix-cache hit rate and TTFT per eviction policy",
    "simulate": "replay paging traces through eviction policies",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``heurist`` parser. With ``command`` given (or ``""`` for none), only that sub-command's
    module is imported and the others are listed by name and help; ``None`` imports them all."""
    from heurist.cli.common import OneLineParser

    parser = OneLineParser(
        prog="heurist", description="Resource decisions of ML systems: simulate, plan, route, "
        "evaluate KV-cache policies.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, help_line in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
        else:  # a placeholder: its real parser is only built when the command is called
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _command(argv: list[str]) -> str:
    """The sub-command named in ``argv`` ("" if none): the top level takes no option values, so
    it is the first argument that is not an option."""
    first = next((a for a in argv if not a.startswith("-")), "")
    return first if first in COMMANDS else ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    # A warning (e.g. a skipped '#' header line) is one line too, not Python's file:line + source.
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: (
        f"heurist{' ' + command if command else ''}: warning: {message}\n")
    try:
        return _run(build_parser(command), argv)
    finally:
        warnings.formatwarning = previous


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):  # "heurist" or "heurist kv" alone
        where = f"heurist {args.command}" if args.command else "heurist"
        print(f"{where}: error: name a command; see '{where} --help'", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"heurist {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
