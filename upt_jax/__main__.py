"""``python -m upt_jax ...``: the ``upt`` command (same sub-commands and options)."""

import sys

from upt_jax.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main(prog="python -m upt_jax"))
