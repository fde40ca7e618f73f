"""``python -m sdk``: the command line."""

from sdk.cli import main

raise SystemExit(main())
