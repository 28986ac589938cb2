"""`python -m bmlocal.cli`."""
import sys

from bmlocal.cli import main

sys.exit(main())
