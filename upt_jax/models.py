"""The universal action model: a projection from visual features to semantics.

A small Flax (linen) head maps visual video features ``[n, D]`` into the
semantic space ``[n, d]`` of the class prototypes, with an L2-normalised
output, as in Brattoli et al. (CVPR 2020):

* ``kind="linear"``: features -> dropout -> Dense(d) -> normalise;
* ``kind="mlp"``: features -> Dense(hidden) -> relu -> dropout -> Dense(d)
  -> normalise.

It is trained with Optax (``adamw``) on SEEN classes only, each video
regressing the prototype of its class. Losses:

* ``"cosine"``: mean of ``1 - cos(f(x), t)`` over the batch;
* ``"mse"``: mean of ``||g(x) - t / ||t|| ||^2`` where ``g`` is the head
  BEFORE the final normalisation (a regression to the unit prototype, like the
  ridge regression of the calibration study; the output used at test time is
  still normalised).

Everything here is a pure function. :func:`train_projection` is the one
convenience driver that calls ``jax.jit`` (on the epoch function it builds),
like ``train_and_evaluate`` in the Flax examples; build your own loop from
:func:`make_train_step` when you want to control compilation.

Parameters are saved with Flax serialisation (msgpack) plus a JSON sidecar of
the configuration: :func:`save_params` / :func:`load_params`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from upt_jax.errors import DataError, UPTError

__all__ = [
    "ProjectionConfig",
    "Projection",
    "init_projection",
    "apply_projection",
    "projection_loss",
    "make_optimizer",
    "ridge_l2",
    "make_train_step",
    "train_projection",
    "save_params",
    "load_params",
    "sidecar_path",
]

_KINDS = ("linear", "mlp")
_LOSSES = ("cosine", "mse")
_SCHEDULES = ("constant", "cosine")
_FORMAT = "upt_jax-projection"
_FORMAT_VERSION = 1

Params = Any  # nested dict of arrays (the "params" collection of the module)


@dataclasses.dataclass(frozen=True)
class ProjectionConfig:
    """Static configuration of the projection head and its training.

    Attributes:
        kind: ``"linear"`` (dropout -> Dense) or ``"mlp"`` (Dense -> relu ->
            dropout -> Dense).
        hidden: width of the hidden layer of the ``"mlp"`` head (unused by
            ``"linear"``).
        dropout: dropout rate in ``[0, 1)``, applied only with ``train=True``.
        loss: ``"cosine"`` (1 - cos to the class prototype) or ``"mse"``
            (squared error of the un-normalised output to the unit prototype).
        learning_rate: Adam(W) step size.
        weight_decay: decoupled weight decay of ``optax.adamw``.
        epochs: passes over the training set in :func:`train_projection`.
        batch_size: minibatch size in :func:`train_projection`.
        l2: explicit L2 penalty ``l2 * sum(W**2)`` on the kernels (not the
            biases), added to the per-sample mean loss. For the linear head
            without bias and ``loss="mse"``, the minimiser is the closed-form
            ridge solution ``(X^T X + n l2 I)^{-1} X^T T`` (``n`` training
            rows); see :func:`ridge_l2`.
        use_bias: give the Dense layers a bias (Flax's default).
        schedule: learning-rate schedule over the whole run, ``"constant"``
            or ``"cosine"`` (cosine decay to 0 over ``epochs`` epochs).
    """

    kind: str = "linear"
    hidden: int = 512
    dropout: float = 0.1
    loss: str = "cosine"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 30
    batch_size: int = 256
    l2: float = 0.0
    use_bias: bool = True
    schedule: str = "constant"

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise UPTError(f"ProjectionConfig.kind={self.kind!r}: use one of {_KINDS}.")
        if self.loss not in _LOSSES:
            raise UPTError(f"ProjectionConfig.loss={self.loss!r}: use one of {_LOSSES}.")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise UPTError(f"ProjectionConfig.dropout={self.dropout}: use a rate in [0, 1).")
        if self.schedule not in _SCHEDULES:
            raise UPTError(f"ProjectionConfig.schedule={self.schedule!r}: use one of {_SCHEDULES}.")
        if not float(self.l2) >= 0.0:
            raise UPTError(f"ProjectionConfig.l2={self.l2}: use a penalty >= 0.")
        if int(self.hidden) < 1 or int(self.epochs) < 0 or int(self.batch_size) < 1:
            raise UPTError(
                "ProjectionConfig: hidden and batch_size must be >= 1 and epochs >= 0, got "
                f"hidden={self.hidden}, batch_size={self.batch_size}, epochs={self.epochs}."
            )

    def to_dict(self) -> dict:
        """The configuration as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ProjectionConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _safe_normalize(x: jax.Array) -> jax.Array:
    """Row-wise L2 normalisation ``[n, d] -> [n, d]``; zero rows stay zero.

    Uses the double-``where`` trick so gradients are finite at zero rows.
    """
    sq = jnp.sum(x * x, axis=-1, keepdims=True)
    ok = sq > 0
    norm = jnp.sqrt(jnp.where(ok, sq, 1.0))
    return jnp.where(ok, x / norm, 0.0)


class Projection(nn.Module):
    """Flax module of the head; returns the UN-normalised output ``[n, out_dim]``.

    Use :func:`init_projection` / :func:`apply_projection` rather than this
    module directly: they add the normalisation and infer ``out_dim``.
    """

    out_dim: int
    kind: str = "linear"
    hidden: int = 512
    dropout: float = 0.1
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.kind == "mlp":
            x = nn.Dense(self.hidden, use_bias=self.use_bias, name="hidden")(x)
            x = nn.relu(x)
        x = nn.Dropout(rate=self.dropout, deterministic=not train)(x)
        return nn.Dense(self.out_dim, use_bias=self.use_bias, name="out")(x)


def _module(cfg: ProjectionConfig, out_dim: int) -> Projection:
    return Projection(
        out_dim=int(out_dim),
        kind=cfg.kind,
        hidden=int(cfg.hidden),
        dropout=float(cfg.dropout),
        use_bias=bool(cfg.use_bias),
    )


def _dims(params: Params) -> tuple[int, int]:
    """(in_dim, out_dim) of a parameter tree."""
    try:
        first = params["hidden"]["kernel"] if "hidden" in params else params["out"]["kernel"]
        out = params["out"]["kernel"]
    except (KeyError, TypeError) as err:
        raise UPTError(
            "params: not a projection parameter tree (expected keys 'out' and, for the mlp "
            "head, 'hidden'); create it with init_projection or load_params."
        ) from err
    return int(first.shape[0]), int(out.shape[1])


def _check_kind(params: Params, cfg: ProjectionConfig) -> None:
    has_hidden = "hidden" in params
    if has_hidden != (cfg.kind == "mlp"):
        found = "mlp" if has_hidden else "linear"
        raise UPTError(
            f"params are a {found!r} head but cfg.kind={cfg.kind!r}; pass the config the "
            "parameters were trained with (load_params returns it)."
        )


def init_projection(key: jax.Array, in_dim: int, out_dim: int, cfg: ProjectionConfig) -> Params:
    """Initialise the parameters of a projection head.

    Args:
        key: PRNG key.
        in_dim: visual feature dimension ``D``.
        out_dim: semantic dimension ``d`` of the prototypes.
        cfg: static configuration.

    Returns:
        A nested dict of float32 arrays: ``{"out": {"kernel": [D or hidden, d],
        "bias": [d]}}`` plus ``"hidden"`` (``[D, hidden]``, ``[hidden]``) for the
        mlp head; no ``"bias"`` entries when ``cfg.use_bias`` is False.
    """
    if int(in_dim) < 1 or int(out_dim) < 1:
        raise UPTError(f"init_projection: in_dim and out_dim must be >= 1, got {in_dim}, {out_dim}.")
    variables = _module(cfg, out_dim).init(key, jnp.zeros((1, int(in_dim)), jnp.float32))
    return variables["params"]


def _forward(
    params: Params, features: jax.Array, cfg: ProjectionConfig, *, train: bool, key: jax.Array | None
) -> jax.Array:
    """Un-normalised head output ``[n, d]``."""
    _check_kind(params, cfg)
    in_dim, out_dim = _dims(params)
    features = jnp.asarray(features)
    if features.ndim != 2 or features.shape[1] != in_dim:
        raise UPTError(
            f"features: expected shape [n, {in_dim}] (the input size of these parameters), "
            f"got {tuple(features.shape)}."
        )
    rngs = None
    if train and cfg.dropout > 0:
        if key is None:
            raise UPTError("apply_projection(train=True) needs key= for dropout.")
        rngs = {"dropout": key}
    return _module(cfg, out_dim).apply({"params": params}, features, train=train, rngs=rngs)


def apply_projection(
    params: Params,
    features: jax.Array,
    cfg: ProjectionConfig,
    *,
    train: bool = False,
    key: jax.Array | None = None,
) -> jax.Array:
    """Project visual features into the semantic space.

    Args:
        params: parameters from :func:`init_projection` or :func:`load_params`.
        features: ``[n, D]`` float visual features.
        cfg: the configuration the parameters were built with.
        train: apply dropout (needs ``key``); ``False`` is deterministic.
        key: PRNG key for dropout, only used with ``train=True``.

    Returns:
        ``[n, d]`` float32, each row of unit L2 norm (rows whose raw output is
        exactly zero stay zero).
    """
    return _safe_normalize(_forward(params, features, cfg, train=train, key=key))


def projection_loss(
    params: Params,
    batch_x: jax.Array,
    batch_y: jax.Array,
    cfg: ProjectionConfig,
    *,
    key: jax.Array | None = None,
    train: bool = True,
    weights: jax.Array | None = None,
) -> jax.Array:
    """Training loss of the head on one batch (scalar).

    Args:
        params: head parameters.
        batch_x: ``[b, D]`` visual features.
        batch_y: ``[b, d]`` target prototypes (normalised inside).
        cfg: configuration; ``cfg.loss`` picks ``"cosine"`` or ``"mse"``.
        key: dropout key (needed when ``train`` and ``cfg.dropout > 0``).
        train: apply dropout.
        weights: optional ``[b]`` non-negative row weights (0 masks padding);
            the loss is the weighted mean.

    Returns:
        ``[]`` float32 loss.
    """
    raw = _forward(params, batch_x, cfg, train=train, key=key)
    target = _safe_normalize(jnp.asarray(batch_y, raw.dtype))
    if cfg.loss == "cosine":
        per_row = 1.0 - jnp.sum(_safe_normalize(raw) * target, axis=-1)
    else:
        per_row = jnp.sum(jnp.square(raw - target), axis=-1)
    if weights is None:
        data = jnp.mean(per_row)
    else:
        weights = jnp.asarray(weights, per_row.dtype)
        data = jnp.sum(per_row * weights) / jnp.maximum(jnp.sum(weights), 1e-12)
    if cfg.l2 > 0:
        data = data + cfg.l2 * _kernel_sq(params)
    return data


def _kernel_sq(params: Params) -> jax.Array:
    """Sum of squares of every Dense kernel (biases excluded), ``[]``."""
    return sum(jnp.sum(jnp.square(layer["kernel"])) for layer in params.values())


def ridge_l2(features: Any, strength: float) -> float:
    """The ``l2`` that makes the mse linear head (no bias) solve a scaled ridge.

    The minimiser of ``mean_i ||x_i W - t_i||^2 + l2 ||W||^2`` is
    ``(X^T X + n l2 I)^{-1} X^T T``. With ``l2 = strength * trace(X^T X) / (D n)``
    that is ridge regression with strength ``strength`` times the mean
    eigenvalue of ``X^T X`` (as :func:`upt_jax.world.fit_ridge` computes it).

    Args:
        features: ``[n, D]`` training features.
        strength: ridge strength, a multiple of the mean eigenvalue of ``X^T X``.

    Returns:
        The penalty ``l2`` (a Python float).
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.size == 0:
        raise UPTError(f"ridge_l2: features must be a non-empty [n, D] array, got shape {x.shape}.")
    return float(strength) * float(np.sum(x * x)) / (x.shape[0] * x.shape[1])


def make_optimizer(cfg: ProjectionConfig, total_steps: int | None = None) -> optax.GradientTransformation:
    """``optax.adamw`` with ``cfg.learning_rate`` (or its schedule) and ``cfg.weight_decay``.

    Args:
        cfg: configuration.
        total_steps: number of optimizer steps of the run; needed by
            ``cfg.schedule="cosine"`` (cosine decay from ``learning_rate`` to 0).
    """
    lr: Any = cfg.learning_rate
    if cfg.schedule == "cosine":
        if total_steps is None:
            raise UPTError("make_optimizer: schedule='cosine' needs total_steps (epochs x batches).")
        lr = optax.cosine_decay_schedule(cfg.learning_rate, max(1, int(total_steps)))
    return optax.adamw(lr, weight_decay=cfg.weight_decay)


def make_train_step(cfg: ProjectionConfig, optimizer: optax.GradientTransformation) -> Callable:
    """Build a pure training step (jit it yourself).

    Args:
        cfg: static configuration (closed over).
        optimizer: an Optax transformation, e.g. :func:`make_optimizer`.

    Returns:
        ``train_step(params, opt_state, batch_x [b, D], batch_y [b, d], key,
        weights=None) -> (params, opt_state, loss [])``.
    """

    def train_step(params, opt_state, batch_x, batch_y, key, weights=None):
        loss, grads = jax.value_and_grad(projection_loss)(
            params, batch_x, batch_y, cfg, key=key, train=True, weights=weights
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss

    return train_step


def _make_epoch(cfg: ProjectionConfig, optimizer, n: int, batch_size: int) -> Callable:
    """One epoch as a ``lax.scan`` over shuffled minibatches of fixed size.

    The last partial batch is filled with repeated indices given weight 0, so
    every sample is seen exactly once per epoch and shapes stay static.
    """
    n_batches = max(1, math.ceil(n / batch_size))
    total = n_batches * batch_size
    step = make_train_step(cfg, optimizer)

    def epoch(params, opt_state, x, y, key):
        k_perm, k_drop = jax.random.split(key)
        perm = jax.random.permutation(k_perm, n)
        idx = jnp.resize(perm, (total,))  # wraps around to fill the last batch
        weights = (jnp.arange(total) < n).astype(jnp.float32)
        idx = idx.reshape(n_batches, batch_size)
        weights = weights.reshape(n_batches, batch_size)
        keys = jax.random.split(k_drop, n_batches)

        def body(carry, inp):
            p, s = carry
            b_idx, b_w, b_key = inp
            bx = jnp.take(x, b_idx, axis=0, mode="clip")
            by = jnp.take(y, b_idx, axis=0, mode="clip")
            p, s, loss = step(p, s, bx, by, b_key, b_w)
            return (p, s), (loss, jnp.sum(b_w))

        (params, opt_state), (losses, counts) = jax.lax.scan(body, (params, opt_state), (idx, weights, keys))
        return params, opt_state, jnp.sum(losses * counts) / jnp.sum(counts)

    return epoch


def train_projection(
    key: jax.Array,
    features: Any,
    targets: Any,
    cfg: ProjectionConfig,
    *,
    progress: bool = False,
) -> tuple[Params, dict]:
    """Train a projection head (convenience driver; the one place that jits).

    Initialises the head, then runs ``cfg.epochs`` epochs of AdamW, each epoch a
    ``lax.scan`` over shuffled minibatches; the epoch function is compiled once
    with ``jax.jit``.

    Args:
        key: PRNG key (initialisation, shuffling, dropout).
        features: ``[n, D]`` visual features of SEEN-class training videos.
        targets: ``[n, d]`` the prototype of each video's class (gather them
            with ``prototypes[labels]``).
        cfg: configuration.
        progress: show a tqdm bar over epochs.

    Returns:
        ``(params, history)``; ``history["loss"]`` is the list of mean training
        losses per epoch (Python floats, dropout on).
    """
    x = jnp.asarray(features, jnp.float32)
    y = jnp.asarray(targets, jnp.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise UPTError(
            f"train_projection: features [n, D] and targets [n, d] must have the same n, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}."
        )
    if x.shape[0] == 0:
        raise UPTError("train_projection: no training samples (features has 0 rows).")
    if not (bool(jnp.all(jnp.isfinite(x))) and bool(jnp.all(jnp.isfinite(y)))):
        raise UPTError("train_projection: features or targets contain NaN/Inf; clean them first.")
    n = int(x.shape[0])
    k_init, k_train = jax.random.split(key)
    params = init_projection(k_init, x.shape[1], y.shape[1], cfg)
    batch = min(int(cfg.batch_size), n)
    optimizer = make_optimizer(cfg, int(cfg.epochs) * max(1, math.ceil(n / batch)))
    opt_state = optimizer.init(params)
    epoch = jax.jit(_make_epoch(cfg, optimizer, n, batch))
    history: dict[str, list[float]] = {"loss": []}
    epochs = range(int(cfg.epochs))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(epochs, desc="projection", unit="epoch")
        epochs = bar
    for e in epochs:
        params, opt_state, loss = epoch(params, opt_state, x, y, jax.random.fold_in(k_train, e))
        history["loss"].append(float(loss))
        if bar is not None:
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    return params, history


def sidecar_path(path: str | os.PathLike) -> str:
    """Path of the JSON sidecar written next to a parameter file: ``<path>.json``."""
    return os.fspath(path) + ".json"


def save_params(params: Params, path: str | os.PathLike, cfg: ProjectionConfig | None = None) -> None:
    """Save parameters (Flax msgpack) and a JSON sidecar ``<path>.json``.

    Args:
        params: parameter tree from :func:`init_projection` / training.
        path: file to write (e.g. ``projection.msgpack``); parent folders are
            created.
        cfg: configuration to store in the sidecar (recommended).
    """
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    state = jax.tree_util.tree_map(np.asarray, serialization.to_state_dict(params))
    with open(path, "wb") as f:
        f.write(serialization.msgpack_serialize(state))
    in_dim, out_dim = _dims(params)
    meta = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "in_dim": in_dim,
        "out_dim": out_dim,
        "config": None if cfg is None else cfg.to_dict(),
    }
    with open(sidecar_path(path), "w") as f:
        json.dump(meta, f, indent=2)


def load_params(path: str | os.PathLike) -> tuple[Params, ProjectionConfig | None]:
    """Load parameters written by :func:`save_params`.

    Args:
        path: the parameter file.

    Returns:
        ``(params, cfg)``: params as a nested dict of ``jax.Array`` (bit-exact);
        ``cfg`` from the sidecar, or ``None`` when it has none (or is missing).

    Raises:
        DataError: missing or unreadable file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: parameter file not found; train a projection first or fix the path.")
    try:
        with open(path, "rb") as f:
            state = serialization.msgpack_restore(f.read())
    except Exception as err:
        raise DataError(f"{path}: not a Flax msgpack parameter file ({err}).") from err
    params = jax.tree_util.tree_map(jnp.asarray, state)
    _dims(params)
    cfg = None
    side = sidecar_path(path)
    if os.path.isfile(side):
        try:
            with open(side) as f:
                meta = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"{side}: unreadable JSON sidecar ({err}); delete it or re-save.") from err
        if meta.get("config") is not None:
            cfg = ProjectionConfig.from_dict(meta["config"])
            _check_kind(params, cfg)
    return params, cfg
