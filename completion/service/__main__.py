"""`python -m completion.service`: the service as front ends start it (logs to the runtime directory only)."""

from __future__ import annotations

import argparse
import sys

from completion.errors import TabwiseError
from completion.runtime.host import BackendFactory
from completion.service.command import add_arguments, run


def main(backend_factory: BackendFactory | None = None) -> int:
    """Run the service; `backend_factory` makes its model (None: as the settings say)."""
    parser = argparse.ArgumentParser(prog="python -m completion.service", description="The tabwise engine service.")
    add_arguments(parser)
    try:
        return run(parser.parse_args(), echo=False, backend_factory=backend_factory)
    except TabwiseError as exc:
        print(f"tabwise service: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
