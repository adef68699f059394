"""Lets `python -m cheiron` behave like the `cheiron` console script."""

import sys

from cheiron.cli import main

sys.exit(main())
