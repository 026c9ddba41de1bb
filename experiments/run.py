"""Kept for old commands: ``python -m experiments.run CONFIG`` is ``upt sweep CONFIG``.

The sweep runner lives in the package, :mod:`upt_jax.sweep`; this folder keeps
the studies (``configs/*.py``) and their documentation.
"""

import sys

from upt_jax.sweep.cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
