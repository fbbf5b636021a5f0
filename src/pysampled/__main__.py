"""``python -m pysampled``: the command line of :mod:`pysampled.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
