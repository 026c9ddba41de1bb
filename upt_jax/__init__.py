"""upt_jax: Universal Prototype Transport (Mettes, IJCV 2023) in JAX.

Pure functions for transductive zero-shot action recognition: hypersphere
geometry (:mod:`upt_jax.sphere`), clustering (:mod:`upt_jax.cluster`), OTT-JAX
transport (:mod:`upt_jax.transport`), the UPT update (:mod:`upt_jax.api`) and
mask-aware metrics (:mod:`upt_jax.metrics`).

Imports are lazy: ``import upt_jax`` loads neither JAX nor OTT-JAX (it is
what ``upt --help`` and ``upt --version`` need); the first use of a name
below (``upt_jax.UPTConfig``, ``from upt_jax import sphere``) imports the
module that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute in it; None: the module itself)
_LAZY = {
    "cluster": ("upt_jax.cluster", None),
    "metrics": ("upt_jax.metrics", None),
    "sphere": ("upt_jax.sphere", None),
    "transport": ("upt_jax.transport", None),
    "Diagnostics": ("upt_jax.api", "Diagnostics"),
    "UPTConfig": ("upt_jax.api", "UPTConfig"),
    "UPTHyper": ("upt_jax.api", "UPTHyper"),
    "check_inputs": ("upt_jax.api", "check_inputs"),
    "chunk_size_for": ("upt_jax.api", "chunk_size_for"),
    "cluster_videos": ("upt_jax.api", "cluster_videos"),
    "convergence_warning": ("upt_jax.api", "convergence_warning"),
    "make_upt": ("upt_jax.api", "make_upt"),
    "summarize_diagnostics": ("upt_jax.api", "summarize_diagnostics"),
    "transport_update": ("upt_jax.api", "transport_update"),
    "upt": ("upt_jax.api", "upt"),
    "Centres": ("upt_jax.cluster", "Centres"),
    "DataError": ("upt_jax.errors", "DataError"),
    "MissingDependencyError": ("upt_jax.errors", "MissingDependencyError"),
    "UPTError": ("upt_jax.errors", "UPTError"),
    "Metrics": ("upt_jax.metrics", "Metrics"),
    "evaluate": ("upt_jax.metrics", "evaluate"),
}

__all__ = [
    "Centres",
    "DataError",
    "Diagnostics",
    "Metrics",
    "MissingDependencyError",
    "UPTConfig",
    "UPTError",
    "UPTHyper",
    "check_inputs",
    "chunk_size_for",
    "cluster",
    "cluster_videos",
    "convergence_warning",
    "evaluate",
    "make_upt",
    "metrics",
    "sphere",
    "summarize_diagnostics",
    "transport",
    "transport_update",
    "upt",
]
assert sorted(__all__) == sorted(_LAZY)


def __getattr__(name: str):
    """Import the module behind a public name on first use (PEP 562)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'upt_jax' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from upt_jax import cluster, metrics, sphere, transport
    from upt_jax.api import (
        Diagnostics,
        UPTConfig,
        UPTHyper,
        check_inputs,
        chunk_size_for,
        cluster_videos,
        convergence_warning,
        make_upt,
        summarize_diagnostics,
        transport_update,
        upt,
    )
    from upt_jax.cluster import Centres
    from upt_jax.errors import DataError, MissingDependencyError, UPTError
    from upt_jax.metrics import Metrics, evaluate
