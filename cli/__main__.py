"""`python -m cli`, the same as `tabwise`."""

import sys

from cli.main import main

sys.exit(main())
