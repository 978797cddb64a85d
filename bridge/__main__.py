"""``python -m bridge``: the command line of :mod:`bridge.cli` (``info``, ``demo``, ``check``)."""

from .cli import main

raise SystemExit(main())
