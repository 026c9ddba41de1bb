"""The staged UPT of the ``upt`` commands (``upt_jax/cli/_stages.py``) equals ``api.upt`` in one program."""

import jax
import numpy as np
import pytest

import upt_jax as U
from tests.conftest import unit
from upt_jax.cli import _stages


def _problem(seed=0, k=6, n=60, d=10):
    rng = np.random.default_rng(seed)
    protos = unit(rng, k, d)
    labels = rng.integers(0, k, n)
    vids = protos[labels] + 0.6 * rng.normal(size=(n, d)) / np.sqrt(d) + 0.7 * unit(rng, d)
    return protos, (vids / np.linalg.norm(vids, axis=1, keepdims=True)).astype(np.float32)


CASES = [
    # the host-EMD path (problem, POT on the host, update given the plan), the example code's Frechet rule
    U.UPTConfig.example_code(n_clusters=0, class_prior="estimated"),
    U.UPTConfig(n_clusters=0, solver="sinkhorn"),  # no clustering, one program after the targets
]


@pytest.mark.parametrize("cfg", CASES, ids=["emd-example-estimated", "sinkhorn"])
def test_staged_equals_one_program(cfg):
    protos, vids = _problem()
    hp = U.UPTHyper(lam=np.float32(0.5), epsilon=np.float32(0.05))
    key = jax.random.PRNGKey(3)
    new_ref, diag_ref = jax.jit(U.make_upt(cfg))(protos, vids, key, hp)
    new, diag = _stages.upt_staged(cfg, protos, vids, key, hp)
    assert _stages.host_emd(cfg) == (cfg.solver == "emd")
    np.testing.assert_allclose(np.asarray(new), np.asarray(new_ref), atol=2e-6)
    np.testing.assert_allclose(np.asarray(diag.coupling), np.asarray(diag_ref.coupling), atol=1e-7)
    np.testing.assert_allclose(np.asarray(diag.targets), np.asarray(diag_ref.targets), atol=2e-6)
    for field in ("converged", "n_iters", "frechet_iters", "empty_rows", "failed_rows"):
        np.testing.assert_array_equal(np.asarray(getattr(diag, field)), np.asarray(getattr(diag_ref, field)),
                                      err_msg=field)
    for field in ("transport_cost", "marginal_error", "source_mass", "kmeans_inertia"):
        np.testing.assert_allclose(np.asarray(getattr(diag, field)), np.asarray(getattr(diag_ref, field)), atol=1e-6,
                                   err_msg=field)
