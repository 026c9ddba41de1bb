"""Tests of the projection head (upt_jax.models)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax.errors import DataError, UPTError
from upt_jax.models import (
    ProjectionConfig,
    apply_projection,
    init_projection,
    load_params,
    make_optimizer,
    make_train_step,
    projection_loss,
    ridge_l2,
    save_params,
    train_projection,
)

pytestmark = pytest.mark.fast

K, D, DSEM = 12, 32, 16


def _world(seed: int = 0, n_train: int = 30, n_test: int = 20):
    """Seen classes with prototypes; videos = W s_c + class noise + noise."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(K, DSEM)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    w = rng.normal(size=(DSEM, D)).astype(np.float32) / np.sqrt(DSEM)

    def sample(m):
        labels = np.repeat(np.arange(K), m)
        x = protos[labels] @ w + rng.normal(size=(labels.size, D)).astype(np.float32) * 0.3
        return x.astype(np.float32), labels

    xtr, ytr = sample(n_train)
    xte, yte = sample(n_test)
    return protos, xtr, ytr, xte, yte


def _np_forward(params, x, kind):
    p = jax.tree_util.tree_map(np.asarray, params)
    h = x.astype(np.float64)
    if kind == "mlp":
        h = np.maximum(h @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0.0)
    return h @ p["out"]["kernel"] + p["out"]["bias"]


@pytest.mark.parametrize("kind, loss", [("linear", "cosine"), ("mlp", "mse")])
def test_training_lowers_loss_and_generalises(kind, loss):
    protos, xtr, ytr, xte, yte = _world()
    cfg = ProjectionConfig(kind=kind, loss=loss, hidden=64, epochs=25, batch_size=64, learning_rate=3e-3)
    params, hist = train_projection(jax.random.key(0), xtr, protos[ytr], cfg)
    assert len(hist["loss"]) == cfg.epochs
    assert all(np.isfinite(hist["loss"]))
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    # held-out seen videos (same classes, unseen samples): nearest prototype
    z = np.asarray(apply_projection(params, xte, cfg))
    acc = np.mean(np.argmax(z @ protos.T, axis=1) == yte)
    assert acc > 3.0 / K, acc  # chance is 1/K
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_loss_matches_numpy_reference():
    protos, xtr, ytr, _, _ = _world()
    for kind in ("linear", "mlp"):
        for loss in ("cosine", "mse"):
            cfg = ProjectionConfig(kind=kind, loss=loss, hidden=64)
            params = init_projection(jax.random.key(1), D, DSEM, cfg)
            raw = _np_forward(params, xtr, kind)
            t = protos[ytr] * 3.0  # targets are normalised inside
            tn = t / np.linalg.norm(t, axis=1, keepdims=True)
            if loss == "cosine":
                ref = np.mean(1 - np.sum(raw / np.linalg.norm(raw, axis=1, keepdims=True) * tn, axis=1))
            else:
                ref = np.mean(np.sum((raw - tn) ** 2, axis=1))
            got = projection_loss(params, xtr, t, cfg, train=False)
            np.testing.assert_allclose(float(got), ref, rtol=2e-5, atol=1e-6)
            # weights: zero-weight rows do not count
            w = np.zeros(len(xtr), np.float32)
            w[:5] = 1
            got_w = projection_loss(params, xtr, t, cfg, train=False, weights=w)
            got_5 = projection_loss(params, xtr[:5], t[:5], cfg, train=False)
            np.testing.assert_allclose(float(got_w), float(got_5), rtol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_apply_matches_numpy_and_is_deterministic(kind):
    _, xtr, _, _, _ = _world()
    cfg = ProjectionConfig(kind=kind, hidden=64, dropout=0.5)
    params = init_projection(jax.random.key(2), D, DSEM, cfg)
    a = np.asarray(apply_projection(params, xtr, cfg))
    b = np.asarray(apply_projection(params, xtr, cfg, key=jax.random.key(9)))  # key ignored
    np.testing.assert_array_equal(a, b)
    raw = _np_forward(params, xtr, kind)
    np.testing.assert_allclose(a, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
    # train=True uses dropout: different keys give different outputs
    t1 = apply_projection(params, xtr, cfg, train=True, key=jax.random.key(0))
    t2 = apply_projection(params, xtr, cfg, train=True, key=jax.random.key(1))
    assert not np.allclose(np.asarray(t1), np.asarray(t2))


def test_jit_equals_no_jit():
    protos, xtr, ytr, _, _ = _world()
    cfg = ProjectionConfig(kind="mlp", hidden=16)
    params = init_projection(jax.random.key(3), D, DSEM, cfg)
    f = lambda p, x: apply_projection(p, x, cfg)  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.jit(f)(params, xtr)), np.asarray(f(params, xtr)), atol=1e-6)

    cfg = ProjectionConfig(kind="linear")
    params = init_projection(jax.random.key(3), D, DSEM, cfg)
    opt = make_optimizer(cfg)
    step = make_train_step(cfg, opt)
    state = opt.init(params)
    key = jax.random.key(4)
    p1, s1, l1 = step(params, state, xtr[:64], protos[ytr[:64]], key)
    p2, s2, l2 = jax.jit(step)(params, state, xtr[:64], protos[ytr[:64]], key)
    np.testing.assert_allclose(float(l1), float(l2), rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # the step changed the parameters
    assert not np.allclose(np.asarray(p1["out"]["kernel"]), np.asarray(params["out"]["kernel"]))


def test_zero_rows_are_safe():
    cfg = ProjectionConfig(kind="linear", dropout=0.0)
    params = init_projection(jax.random.key(0), D, DSEM, cfg)
    params = {"out": {"kernel": params["out"]["kernel"], "bias": jnp.zeros(DSEM)}}
    x = np.zeros((3, D), np.float32)
    x[1] = 1.0
    z = np.asarray(apply_projection(params, x, cfg))
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z[0], 0.0)
    np.testing.assert_allclose(np.linalg.norm(z[1]), 1.0, atol=1e-6)
    g = jax.jit(jax.grad(lambda p: projection_loss(p, x, np.ones((3, DSEM), np.float32), cfg, train=False)))(params)
    assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree_util.tree_leaves(g))


@pytest.mark.parametrize("with_cfg", [True, False])
def test_save_load_roundtrip(tmp_path, with_cfg):
    cfg = ProjectionConfig(kind="mlp", hidden=24, dropout=0.2, loss="mse", epochs=3)
    params = init_projection(jax.random.key(5), D, DSEM, cfg)
    path = tmp_path / "sub" / "proj.msgpack"
    save_params(params, path, cfg if with_cfg else None)
    loaded, cfg2 = load_params(path)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert cfg2 == (cfg if with_cfg else None)
    x = _world()[1]
    np.testing.assert_array_equal(
        np.asarray(apply_projection(params, x, cfg)), np.asarray(apply_projection(loaded, x, cfg))
    )


def test_errors(tmp_path):
    cfg = ProjectionConfig()
    params = init_projection(jax.random.key(0), D, DSEM, cfg)
    with pytest.raises(UPTError, match=r"\[n, 32\]"):
        apply_projection(params, np.zeros((2, D + 1), np.float32), cfg)
    with pytest.raises(UPTError, match="key="):
        apply_projection(params, np.zeros((2, D), np.float32), cfg, train=True)
    with pytest.raises(UPTError, match="mlp"):
        apply_projection(params, np.zeros((2, D), np.float32), dataclasses.replace(cfg, kind="mlp"))
    with pytest.raises(UPTError, match="kind"):
        ProjectionConfig(kind="conv")
    with pytest.raises(UPTError, match="loss"):
        ProjectionConfig(loss="l1")
    with pytest.raises(UPTError, match="schedule"):
        ProjectionConfig(schedule="step")
    with pytest.raises(UPTError, match="l2"):
        ProjectionConfig(l2=-1.0)
    with pytest.raises(UPTError, match="total_steps"):
        make_optimizer(ProjectionConfig(schedule="cosine"))
    with pytest.raises(UPTError, match="same n"):
        train_projection(jax.random.key(0), np.zeros((4, D)), np.zeros((5, DSEM)), cfg)
    with pytest.raises(DataError, match="not found"):
        load_params(tmp_path / "missing.msgpack")
    bad = tmp_path / "bad.msgpack"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="bad.msgpack"):
        load_params(bad)


def test_l2_penalty_matches_numpy_reference():
    protos, xtr, ytr, _, _ = _world()
    for kind in ("linear", "mlp"):
        cfg = ProjectionConfig(kind=kind, loss="mse", hidden=64, l2=0.37)
        params = init_projection(jax.random.key(1), D, DSEM, cfg)
        p = jax.tree_util.tree_map(np.asarray, params)
        kernels = sum(np.sum(p[name]["kernel"].astype(np.float64) ** 2) for name in p)
        raw = _np_forward(params, xtr, kind)
        ref = np.mean(np.sum((raw - protos[ytr]) ** 2, axis=1)) + 0.37 * kernels
        got = projection_loss(params, xtr, protos[ytr], cfg, train=False)
        np.testing.assert_allclose(float(got), ref, rtol=2e-5)


def test_no_bias_head_has_no_bias_and_roundtrips(tmp_path):
    cfg = ProjectionConfig(kind="mlp", hidden=8, use_bias=False)
    params = init_projection(jax.random.key(0), D, DSEM, cfg)
    assert set(params["out"]) == {"kernel"} and set(params["hidden"]) == {"kernel"}
    save_params(params, tmp_path / "p.msgpack", cfg)
    loaded, cfg2 = load_params(tmp_path / "p.msgpack")
    assert cfg2 == cfg
    x = _world()[1]
    np.testing.assert_array_equal(
        np.asarray(apply_projection(params, x, cfg)), np.asarray(apply_projection(loaded, x, cfg))
    )


@pytest.mark.parametrize("batch_size", [360, 64])
def test_mse_l2_head_converges_to_closed_form_ridge(batch_size):
    # linear head, no bias, mse + l2 = ridge_l2(X, s): its minimiser is
    # (X^T X + s * mean eigenvalue * I)^{-1} X^T T, computed here with NumPy.
    protos, xtr, ytr, _, _ = _world(n_train=30)  # n = 360
    t = protos[ytr]
    strength = 2.0
    x64 = xtr.astype(np.float64)
    gram = x64.T @ x64
    ref = np.linalg.solve(gram + strength * np.trace(gram) / D * np.eye(D), x64.T @ t)
    l2 = ridge_l2(xtr, strength)
    np.testing.assert_allclose(l2 * len(xtr), strength * np.trace(gram) / D, rtol=1e-6)
    cfg = ProjectionConfig(
        kind="linear", loss="mse", dropout=0.0, use_bias=False, l2=l2, weight_decay=0.0,
        schedule="cosine", learning_rate=3e-2, epochs=300 if batch_size == 360 else 60,
        batch_size=batch_size,
    )
    params, hist = train_projection(jax.random.key(0), xtr, t, cfg)
    kernel = np.asarray(params["out"]["kernel"], np.float64)
    assert np.linalg.norm(kernel - ref) < 0.02 * np.linalg.norm(ref)
    objective = lambda b: np.mean(np.sum((x64 @ b - t) ** 2, axis=1)) + l2 * np.sum(b**2)  # noqa: E731
    assert objective(kernel) < objective(ref) * (1 + 1e-3)
    z = np.asarray(apply_projection(params, xtr, cfg))
    zr = x64 @ ref
    zr /= np.linalg.norm(zr, axis=1, keepdims=True)
    assert np.min(np.sum(z * zr, axis=1)) > 0.999
