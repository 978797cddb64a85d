"""bridge's command line: ``python -m bridge info | demo | check`` (also the ``bridge`` console
script, where iproute2's ``bridge`` does not come first on the PATH).

- ``info [--json]``: bridge's version, the backends and their frameworks, devices and plugins,
  the environment variables in effect, what is missing and how to install it;
- ``demo``: trains small classifiers (Iris, handwritten digits; one- and multi-layer) on each
  installed backend and prints their test accuracies side by side (:mod:`bridge.demo`);
- ``check``: runs bridge's backend test suite, the conformance kit
  (``pytest --pyargs bridge.testing.conformance``), against the installed backends; pytest's own
  options follow ``--``.

Exit status: 0 on success; 2 for a usage or setup error (an unknown option or backend, a missing
package); ``check`` otherwise returns pytest's status (1: some test failed, 5: none selected).

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
from .testing import REFERENCE_BACKENDS

CONFORMANCE = "bridge.testing.conformance"

#: The exit status of a usage or setup error, as argparse's.
USAGE = 2


def _names(values: Sequence[str] | None) -> list[str]:
    """``--backend a --backend b,c`` as ``[a, b, c]``."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def _quiet_tensorflow() -> None:
    """Set ``TF_CPP_MIN_LOG_LEVEL=2`` unless the environment chose a level: TensorFlow's C++ code
    then logs only errors. That silences most of its messages, not all: TensorFlow 2.21 writes
    its oneDNN notice (two lines, twice) as it is imported, before its logging starts, whatever
    the level (``TF_ENABLE_ONEDNN_OPTS=0`` removes it, with the oneDNN kernels, which changes
    TensorFlow's numbers: not set here). So ``info`` and ``demo`` load the backends before they
    print anything: the notice comes first, not inside their output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _chosen_backends(command: str, given: Sequence[str] | None, allowed: Sequence[str]) -> list[str] | None:
    """The backends named by ``--backend`` (else every installed one), or None after printing why
    they can't be used: none installed, or a name not in ``allowed``."""
    backends = _names(given) or installed_backends()
    if not backends:
        print(
            f"bridge {command}: no backend is installed; `python -m bridge info` says what to install",
            file=sys.stderr,
        )
        return None
    unknown = [name for name in backends if name not in allowed]
    if unknown:
        installed = [name for name in installed_backends() if name not in REFERENCE_BACKENDS]
        print(
            f"bridge {command}: not installed: {', '.join(unknown)}; installed backends: "
            f"{', '.join(installed) or 'none'}; "
            f"reference backends, for check only: {', '.join(REFERENCE_BACKENDS)}",
            file=sys.stderr,
        )
        return None
    return backends


def cmd_info(args: argparse.Namespace) -> int:
    environ = dict(os.environ)  # as the user set it, before TF_CPP_MIN_LOG_LEVEL below
    _quiet_tensorflow()
    facts = gather(environ)  # loads the backends: what their frameworks print comes first
    sys.stderr.flush()
    print(json.dumps(facts, indent=2) if args.json else render(facts))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    backends = _chosen_backends("demo", args.backend, installed_backends())
    if backends is None:
        return USAGE
    problems = demo.PROBLEMS if args.problem == "all" else (args.problem,)
    models = demo.MODELS if args.model == "all" else (args.model,)
    try:
        differing = demo.lab(backends, problems, models, epochs=args.epochs, verbose=args.verbose)
    except demo.MissingDataSetsError as exc:
        print(f"bridge demo: {exc}", file=sys.stderr)
        return USAGE
    return 1 if differing else 0  # as examples/tensor_demo.py: the backends disagreeing is a failure


def cmd_check(args: argparse.Namespace) -> int:
    absent = [name for name in ("pytest", "hypothesis") if importlib.util.find_spec(name) is None]
    if absent:
        print(
            "bridge check: the backend test suite runs under pytest, with hypothesis; "
            f"{' and '.join(absent)} not installed: {extra_install('testing')}",
            file=sys.stderr,
        )
        return USAGE
    import pytest

    _quiet_tensorflow()
    backends = _chosen_backends("check", args.backend, [*installed_backends(), *REFERENCE_BACKENDS])
    if backends is None:
        return USAGE
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    pytest_args = ["--pyargs", CONFORMANCE, f"--bridge-backends={','.join(backends)}", *extra]
    print("pytest " + " ".join(pytest_args), flush=True)
    # bridge is imported already, so pytest cannot rewrite its asserts (the kit's are rewritten)
    quiet = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*quiet, *pytest_args]))


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the three commands (``prog``: the name the usage shows)."""
    top = argparse.ArgumentParser(
        prog=prog,
        description="bridge: write deep-learning code once; run it on PyTorch or TensorFlow.",
        epilog=(
            "`python -m bridge` is the same command; see the documentation's 'The command line'."
            if prog == "bridge"
            else "See the documentation's 'The command line'."
        ),
    )
    top.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = top.add_subparsers(dest="command", metavar="{info,demo,check}")

    summary = "versions, backends, devices, environment; what is missing and how to install it"
    info = commands.add_parser(
        "info",
        help=summary,
        description=(
            "Report bridge's version, the installed backends with their frameworks, devices and "
            "plugins, the environment variables in effect, and what is missing, with the command "
            "that installs it. It imports every installed framework: a few seconds."
        ),
    )
    info.add_argument("--json", action="store_true", help="print the same facts as one JSON object")
    info.set_defaults(run=cmd_info)

    summary = (
        "train small classifiers (Iris, handwritten digits; one- and multi-layer) on each installed "
        "backend and print their test accuracies side by side"
    )
    lab = commands.add_parser(
        "demo",
        help=summary,
        description=(
            "Train small classifiers (Iris, handwritten digits; one- and multi-layer) on each "
            "installed backend and print their test accuracies side by side: the columns should "
            "agree. Everything, on two backends, takes under a minute on two CPU cores."
        ),
    )
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
    lab.add_argument(
        "--epochs",
        type=_positive_int,
        default=100,
        metavar="N",
        help="at most N epochs, as early stopping may end sooner; default: 100",
    )
    lab.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="fit's verbose: 0 (default), 1 a progress bar, 2 a line per epoch",
    )
    lab.set_defaults(run=cmd_demo)

    summary = "run bridge's backend test suite, the conformance kit, against the installed backends"
    check = commands.add_parser(
        "check",
        help=summary,
        description=summary[0].upper() + summary[1:] + " (pytest --pyargs bridge.testing.conformance).",
        epilog="pytest's options follow --, e.g. `python -m bridge check -- -x -q -k dtype`",
    )
    check.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help=f"a backend (repeat, or a comma list; default: all installed; "
        f"{', '.join(REFERENCE_BACKENDS)}: the reference backend)",
    )
    check.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then options for pytest")
    check.set_defaults(run=cmd_check, command_parser=check)
    return top


def _after_dash_dash(argv: list[str]) -> list[str]:
    """``check``'s arguments as they should have been given: its own ``--backend`` options, then
    ``--`` and everything else (pytest's options) in the order given."""
    rest = argv[argv.index("check") + 1 :]
    own: list[str] = []
    others: list[str] = []
    while rest:
        token = rest.pop(0)
        if token == "--":
            others += rest
            break
        option = token.partition("=")[0]
        if len(option) > 2 and "--backend".startswith(option):  # argparse takes prefixes too
            own.append(token)
            if "=" not in token and rest:
                own.append(rest.pop(0))
        else:
            others.append(token)
    return [*own, "--", *others]


def main(argv: list[str] | None = None) -> int:
    """Run the command line (``argv``: the arguments, default ``sys.argv[1:]``); the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    name = Path(sys.argv[0]).name
    prog = "python -m bridge" if name in ("__main__.py", "-m", "") else name
    top = parser(prog)
    # known args only: options given to check without -- get a hint, not argparse's bare error
    args, unknown = top.parse_known_args(argv)
    if args.command is None and not unknown:
        top.print_help()
        return USAGE
    if args.command == "check" and (unknown or args.pytest_args[:1] not in ([], ["--"])):
        suggestion = " ".join([prog, "check", *_after_dash_dash(argv)])
        args.command_parser.error(f"pytest options go after --: {suggestion}")
    if unknown:
        top.error(f"unrecognized arguments: {' '.join(unknown)}")
    return int(args.run(args))
