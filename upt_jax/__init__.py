"""upt_jax: Universal Prototype Transport (Mettes, IJCV 2023) in JAX.

Pure functions for transductive zero-shot action recognition: hypersphere
geometry (:mod:`upt_jax.sphere`), clustering (:mod:`upt_jax.cluster`), OTT-JAX
transport (:mod:`upt_jax.transport`), the UPT update (:mod:`upt_jax.api`) and
mask-aware metrics (:mod:`upt_jax.metrics`).
"""

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

__version__ = "0.1.0"

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
