"""`python -m sniffer` runs the command-line tool."""

import sys

from sniffer.cli import main

sys.exit(main())
