"""Shared fixtures: seeded RNG and an x64 switch.

Note: jax_numpy_rank_promotion="raise" is not set: OTT-JAX 0.6.0 itself relies on
rank promotion inside Sinkhorn.
"""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# `make test` runs 2 workers on 2 cores: BLAS/OpenMP thread pools (NumPy,
# scikit-learn) would spin against each other and against XLA (a scikit-learn
# KMeans here took 5x the CPU with 2 threads); one thread per worker.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# The suite is dominated by XLA compile time (many small programs, each run a few
# times). LLVM's backend optimisations make those compiles ~30% slower and buy
# nothing at test sizes, so the tests compile at level 0 (the numbers checked
# are the same up to float rounding; every comparison has a tolerance or compares
# two programs compiled alike). Set UPT_TEST_XLA_OPT=1 to test the default level.
if os.environ.get("UPT_TEST_XLA_OPT", "0") != "1" and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


SEEDS = (0, 1, 2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def enable_x64():
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


def unit(rng, *shape, dtype=np.float32):
    x = rng.normal(size=shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(dtype)


import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="JAXopt is no longer maintained", category=DeprecationWarning)
