"""bridge's command line: ``python -m bridge info | demo | check`` (also the ``bridge`` console
script, where iproute2's ``bridge`` does not come first on the PATH).

- ``info [--json]``: bridge's version, the backends and their frameworks, devices and plugins,
  the environment variables in effect, what is missing and how to install it;
- ``demo``: the course's lab (:mod:`bridge.demo`) on every installed backend, side by side;
- ``check``: the conformance kit (``pytest --pyargs bridge.testing.conformance``) against the
  installed backends; pytest's own options follow ``--``.

Not imported by ``import bridge``: only by ``python -m bridge`` and the console script.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, demo
from ._info import extra_install, gather, render
from ._plugins import installed_backends

CONFORMANCE = "bridge.testing.conformance"


def _names(values: Sequence[str] | None) -> list[str]:
    """``--backend a --backend b,c`` as ``[a, b, c]``."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up messages off, unless the environment chose a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_info(args: argparse.Namespace) -> int:
    environ = dict(os.environ)  # as the user set it, before TF_CPP_MIN_LOG_LEVEL below
    _quiet_tensorflow()
    facts = gather(environ)
    print(json.dumps(facts, indent=2) if args.json else render(facts))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    backends = _names(args.backend) or installed_backends()
    if not backends:
        print("bridge demo: no backend is installed (see `python -m bridge info`)", file=sys.stderr)
        return 1
    unknown = [name for name in backends if name not in installed_backends()]
    if unknown:
        installed = ", ".join(installed_backends())
        print(f"bridge demo: {', '.join(unknown)} not installed (installed: {installed})", file=sys.stderr)
        return 2
    problems = demo.PROBLEMS if args.problem == "all" else (args.problem,)
    models = demo.MODELS if args.model == "all" else (args.model,)
    try:
        demo.lab(backends, problems, models, epochs=args.epochs, verbose=args.verbose)
    except demo.MissingDataSetsError as exc:
        print(f"bridge demo: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    absent = [name for name in ("pytest", "hypothesis") if importlib.util.find_spec(name) is None]
    if absent:
        print(
            f"bridge check: the conformance kit runs under pytest, with hypothesis; {' and '.join(absent)} "
            f"not installed: {extra_install('testing')}",
            file=sys.stderr,
        )
        return 1
    import pytest

    _quiet_tensorflow()
    backends = _names(args.backend) or installed_backends()
    if not backends:
        print("bridge check: no backend is installed (see `python -m bridge info`)", file=sys.stderr)
        return 1
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    pytest_args = ["--pyargs", CONFORMANCE, f"--bridge-backends={','.join(backends)}", *extra]
    print("pytest " + " ".join(pytest_args), flush=True)
    # bridge is imported already, so pytest cannot rewrite its asserts (the kit's are rewritten)
    quiet = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*quiet, *pytest_args]))


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the three commands."""
    top = argparse.ArgumentParser(
        prog=prog,
        description="bridge: write deep-learning code once; run it on PyTorch or TensorFlow.",
        epilog="`python -m bridge` is the same command; see the documentation's 'The command line'.",
    )
    top.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = top.add_subparsers(dest="command", metavar="{info,demo,check}")

    info = commands.add_parser(
        "info", help="versions, backends, devices, environment; what is missing and how to install it"
    )
    info.add_argument("--json", action="store_true", help="print the same facts as one JSON object")
    info.set_defaults(run=cmd_info)

    lab = commands.add_parser("demo", help="the course's lab on every installed backend, side by side")
    lab.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="a backend (repeat, or a comma list; default: all installed)",
    )
    lab.add_argument("--problem", default="all", choices=[*demo.PROBLEMS, "all"], help="default: all")
    lab.add_argument(
        "--model",
        default="all",
        choices=[*demo.MODELS, "all"],
        help="single: one Dense layer; multi: two hidden layers; default: all",
    )
    lab.add_argument("--epochs", type=int, default=100, help="at most (early stopping); default: 100")
    lab.add_argument(
        "--verbose",
        type=int,
        default=0,
        help="fit's verbose: 0 (default), 1 a progress bar, 2 a line per epoch",
    )
    lab.set_defaults(run=cmd_demo)

    check = commands.add_parser(
        "check",
        help="the conformance kit against the installed backends",
        epilog="pytest's options follow --, e.g. `python -m bridge check -- -x -q -k dtype`",
    )
    check.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="a backend (repeat, or a comma list; default: all installed; numpy: the reference backend)",
    )
    check.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then options for pytest")
    check.set_defaults(run=cmd_check)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line (``argv``: the arguments, default ``sys.argv[1:]``); the exit status."""
    name = Path(sys.argv[0]).name
    prog = "python -m bridge" if name in ("__main__.py", "-m", "") else name
    top = parser(prog)
    args = top.parse_args(argv)
    if args.command is None:
        top.print_help()
        return 2
    if args.command == "check" and args.pytest_args[:1] not in ([], ["--"]):
        top.error(f"check: pytest's options go after --: check -- {' '.join(args.pytest_args)}")
    return int(args.run(args))
