"""``python -m upt_jax ...``: the ``upt`` command (same sub-commands and options)."""

import sys

from upt_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m upt_jax"))
