"""``python -m heurist.cli``: the same as the ``heurist`` command."""
import sys

from heurist.cli import main

sys.exit(main())
