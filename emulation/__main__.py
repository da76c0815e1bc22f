"""`python -m emulation ...`: see emulation/control/cli.py (`python -m emulation --help`)."""

import sys

from emulation.control.cli import main

if __name__ == "__main__":
    sys.exit(main())
