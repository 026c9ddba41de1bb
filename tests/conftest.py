"""Shared fixtures: seeded RNG and an x64 switch.

Note: jax_numpy_rank_promotion="raise" is not set: OTT-JAX 0.6.0 itself relies on
rank promotion inside Sinkhorn.
"""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

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
