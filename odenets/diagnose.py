"""``python -m odenets.diagnose``: the same as ``odenets diagnose`` (see :mod:`odenets.cli`)."""

import sys

from .cli import diagnose_main as main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
