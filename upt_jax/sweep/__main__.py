"""``python -m upt_jax.sweep CONFIG.py [--out DIR] ...``: the same as ``upt sweep``."""

import sys

from upt_jax.sweep.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
