"""``python -m coursegrader``: the command line (:mod:`coursegrader.cli`)."""
import sys

from coursegrader.cli import main

sys.exit(main())
