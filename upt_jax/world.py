"""The default world: a seeded synthetic zero-shot test set with real class names.

No real video features can be downloaded, so ``upt run`` generates its data.
The world is SYNTHETIC. It reproduces the phenomenon UPT addresses (a
universal model trained on seen classes leaves some unseen classes never
predicted; transporting the prototypes to the test distribution recovers them)
but NOT the size of the paper's gain, which here is set mostly by ``eta``.

Generator (a calibrated version of the universal-model setting, with real
prototypes):

* Semantic space: the all-MiniLM-L6-v2 embeddings (``d = 384``) of the real
  class names (:mod:`upt_jax.text`). Test (unseen) classes: UCF-101 (101) or
  HMDB-51 (51). Seen classes: the Kinetics-400 classes that survive
  :func:`upt_jax.text.filter_seen` (cosine distance >= 0.05 to every test
  class): 376 for UCF-101, 396 for HMDB-51.
* Visual space (``D = visual_dim``): ``x_i = W s_c + v_c + e_i`` where
  ``W = sqrt(d / r) G Q Q^T`` (``G`` with entries ``N(0, signal_scale^2 / D)``,
  ``Q`` an orthonormal ``[d, r]`` basis, ``r = semantic_rank``) is the part of
  appearance that semantics predict, and only ``r`` of the ``d`` semantic
  directions are visible in it; ``v_c ~ N(0, class_scale^2 / D I)`` is the
  class-specific appearance semantics do not predict, plus ``u`` (norm
  ``shared_scale``), an appearance every video shares (people, scenes), which
  the universal model learns to map to the mean seen prototype: it pulls every
  projection toward that direction, so prototypes near it become hubs and
  others are never predicted (the bias); ``e_i ~ N(0, video_scale^2 / D I)``
  is per-video noise.
* Test videos only: ``x_i += L xi_i``, ``L`` a ``[D, nuisance_dim]``
  orthonormal basis, ``xi_i ~ N(0, eta^2 / nuisance_dim I)``: a test-domain
  nuisance the training never saw. ``eta`` sets how much of the test set's
  cluster structure is nuisance rather than class.
* Sizes like the real datasets: UCF-101 13,320 test videos (100-160 per
  class), HMDB-51 6,766 (101-165 per class); ``videos_per_seen_class`` per seen
  class for training.
* Universal model, trained on SEEN classes only to regress the class
  prototype, output L2-normalised. Default (``projection="flax"``): the
  linear Flax head of :mod:`upt_jax.models` (no bias, no dropout), trained
  with Optax (Adam, cosine-decayed learning rate, minibatches) on the mean
  squared error of its un-normalised output plus an explicit L2 penalty on
  its kernel, ``models.ridge_l2(X, ridge)``, chosen so that the minimiser is
  ridge regression of strength ``ridge`` x the mean eigenvalue of ``X^T X``.
  That strong penalty is what makes the model biased: it shrinks toward the
  shared appearance, which maps to the average seen prototype. The trained
  head agrees with the closed form (``projection="ridge"``,
  :func:`fit_ridge`, fast, what the calibration of this generator used)
  to a few percent of the weights (about 97 % of the zero-shot predictions
  on UCF-101 are the same). The cosine loss with AdamW and no explicit
  penalty (``loss="cosine", ridge=0``) gives almost no bias: a few classes
  never predicted instead of 15-20.

Two knobs change the test set without touching the rest of the world (the
same seed gives the same ``W``, ``v_c``, ``u``, nuisance basis and universal
model, because the generator draws the same numbers in the same order):

* ``imbalance`` (``s >= 0``): Zipf-distributed class sizes. Class ``c``
  gets a random rank ``r_c`` in ``1..K`` (its own generator, seeded by
  ``seed``) and a size proportional to ``n_c r_c^(-s)``, where ``n_c`` are
  the balanced-world sizes (100-160 per class for UCF-101), rounded to
  integers that sum to ``N`` (at least 1 video per class). ``s = 0`` gives
  exactly the balanced world; on UCF-101 (seed 0) ``s = 0.5`` gives 57 to
  639 videos per class, ``s = 1`` 21 to 2,372 (:func:`zipf_sizes`).
* ``offset_scale`` (``rho >= 0``): the KIND of bias. The universal model's
  test projections share a common component (their mean, about 0.77 long on
  the UCF-101 default world: the image of the appearance every video shares
  and of the average seen prototype). It shifts every video's score for class
  k by the same ``<mean, p_k>``: an additive per-class offset, the bias that
  per-class centring or the inverted softmax remove. The knob rescales it,
  ``y_i <- normalise(y_i - (1 - rho) mean_j y_j)`` (:func:`scale_offset`),
  after the universal model (``project`` returns the unscaled outputs).
  ``rho = 1`` is today's world; at ``rho = 0`` every class has the same mean
  score (centring does nothing) and what bias is left comes from where the
  videos lie relative to the prototypes (geometry: the ridge-shrunk,
  rank-limited projection puts some classes' videos nearer other
  prototypes).
  Measure it with :func:`upt_jax.bias.bias_statistics`: on the UCF-101
  default world (seed 0, all classes) the spread of the classes' mean scores
  is 0.083 against a mean within-class spread of 0.088 (mostly offset;
  0.005 against 0.136 at ``rho = 0``); on real sentence embeddings of WordNet
  noun glosses (``scripts/wordnet_testbed.py``) it is 0.020 against 0.090.

Presets (:data:`PRESETS`, all other fields shared): ``clean`` (``eta = 0``:
clusters are classes, UPT gains a lot), ``default`` (``eta = 4.75``, the
paper's regime: on UCF-101 seed 0 a baseline top-1 of 31 %, 20 of the 101
classes never predicted, UPT at C = 1000 half way +6 points, best lam 0.4)
and ``hard`` (``eta = 6``: UPT gains under a point at lam = 0.1-0.2 and
hurts from lam = 0.3 on). All three keep ``offset_scale = 1`` and balanced
classes (``imbalance = 0``). Their bias is mostly a per-class offset, and
that favours the cheap score corrections over moving prototypes: on the
default UCF-101 world (seed 0, all classes) per-class centring alone lifts
top-1 from 31.2 to 55.3, the inverted softmax (beta 30) reaches 68.1 and
Sinkhorn-balanced predictions 69.2, against 45.8 for UPT without clustering
and 37.5 at C = 1000; on real text embeddings the order is the other way
round (WordNet nouns: UPT 39.4, balanced predictions 35.0, baseline 33.3).
Prototype movement wins on the worlds only when the offset is gone and the
nuisance is moderate (``offset_scale = 0, eta = 2``: UPT 98.1 and balanced
refinement 98.2 against 94.1 for balanced predictions). Do not read a
ranking of methods on the presets as a ranking on real features
(``experiments/bias_study.py`` measures it on every testbed). Measured
numbers: the project README.

Everything is a function of the :class:`WorldConfig` (NumPy generator seeded
by ``seed``; the Flax head's key is ``jax.random.key(seed)``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, NamedTuple

import numpy as np

from upt_jax import text
from upt_jax.errors import UPTError

__all__ = [
    "DATASET_SIZES",
    "PRESETS",
    "World",
    "WorldConfig",
    "class_sizes",
    "fit_ridge",
    "scale_offset",
    "zipf_sizes",
    "generate_world",
    "make_world_config",
    "project",
    "video_names",
]

#: Real test-set sizes and per-class size ranges: dataset -> (N, lo, hi).
DATASET_SIZES: dict[str, tuple[int, int, int]] = {
    "ucf101": (13320, 100, 160),
    "hmdb51": (6766, 101, 165),
}
_PROJECTIONS = ("ridge", "flax")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """Static configuration of a synthetic world (hashable).

    Attributes:
        dataset: test classes, ``"ucf101"`` or ``"hmdb51"``.
        preset: the preset name the values came from (informational).
        seed: seeds the NumPy generator (and the Flax head's key).
        visual_dim: ``D``, width of the visual features.
        semantic_rank: ``r``, how many of the 384 semantic directions the
            visual features reveal (a random subspace); less -> more bias.
        signal_scale: scale of ``W s_c`` (semantically predictable appearance).
        shared_scale: norm of an appearance ``u`` shared by every video
            (seen and test); the universal model maps it to the mean seen
            prototype, which pulls every projection toward it (hubness).
        class_scale: scale of ``v_c`` (class appearance semantics miss).
        video_scale: scale of ``e_i`` (per-video noise).
        eta: strength of the test-domain nuisance (0 = none).
        imbalance: Zipf exponent ``s`` of the test class sizes (0 = the
            balanced sizes of the real dataset; see :func:`zipf_sizes`).
        offset_scale: ``rho``, scale of the common component of the test
            projections (1 = as the model outputs it; 0 = removed): how much
            of the bias is an additive per-class offset rather than geometry
            (:func:`scale_offset`).
        nuisance_dim: dimension of the nuisance subspace.
        videos_per_seen_class: training videos per seen class.
        n_videos: number of test videos; ``None`` = the real dataset's size.
            Smaller values scale the per-class size range (tests).
        min_seen_distance: ``filter_seen`` threshold (cosine distance).
        projection: ``"flax"`` (Optax-trained head, the default) or
            ``"ridge"`` (closed form, fast).
        ridge: ridge strength, a multiple of the mean eigenvalue of ``X^T X``:
            the closed form's regulariser, and for ``"flax"`` the explicit L2
            penalty ``models.ridge_l2(X, ridge)`` on the head's kernels.
        head: Flax head, ``"linear"`` or ``"mlp"``.
        loss: Flax loss, ``"mse"`` (regression of the un-normalised output;
            with the linear head without bias, same minimiser as ridge) or
            ``"cosine"``.
        use_bias: Flax head has biases (not penalised; off to match ridge).
        hidden: MLP width.
        dropout: Flax head dropout.
        epochs: Flax training epochs.
        learning_rate: Adam(W) peak learning rate.
        schedule: ``"cosine"`` (decay to 0 over the run) or ``"constant"``.
        weight_decay: AdamW decoupled weight decay.
        batch_size: training batch size.
        keep_features: also return the raw test features ``[N, D]``.
    """

    dataset: str = "ucf101"
    preset: str = "default"
    seed: int = 0
    visual_dim: int = 512
    semantic_rank: int = 96
    signal_scale: float = 1.0
    shared_scale: float = 1.0
    class_scale: float = 0.5
    video_scale: float = 0.5
    eta: float = 4.75
    imbalance: float = 0.0
    offset_scale: float = 1.0
    nuisance_dim: int = 10
    videos_per_seen_class: int = 100
    n_videos: int | None = None
    min_seen_distance: float = 0.05
    projection: str = "flax"
    ridge: float = 10.0
    head: str = "linear"
    loss: str = "mse"
    use_bias: bool = False
    hidden: int = 512
    dropout: float = 0.0
    epochs: int = 8
    learning_rate: float = 3e-3
    schedule: str = "cosine"
    weight_decay: float = 0.0
    batch_size: int = 512
    keep_features: bool = True

    def __post_init__(self):
        if self.dataset not in DATASET_SIZES:
            raise UPTError(
                f"WorldConfig.dataset={self.dataset!r}; choose one of {sorted(DATASET_SIZES)}"
            )
        if self.projection not in _PROJECTIONS:
            raise UPTError(
                f"WorldConfig.projection={self.projection!r}; choose one of {_PROJECTIONS}"
            )
        if not 1 <= int(self.semantic_rank) <= text.EMBED_DIM:
            raise UPTError(
                f"WorldConfig.semantic_rank={self.semantic_rank} must be in [1, {text.EMBED_DIM}]"
            )
        if int(self.visual_dim) < 1 or not 1 <= int(self.nuisance_dim) <= int(
            self.visual_dim
        ):
            raise UPTError(
                f"WorldConfig: need visual_dim >= 1 and 1 <= nuisance_dim <= visual_dim, got "
                f"visual_dim={self.visual_dim}, nuisance_dim={self.nuisance_dim}"
            )
        if int(self.videos_per_seen_class) < 1:
            raise UPTError("WorldConfig.videos_per_seen_class must be >= 1")
        if (
            min(
                self.signal_scale,
                self.class_scale,
                self.video_scale,
                self.eta,
                self.ridge,
                self.imbalance,
                self.offset_scale,
            )
            < 0
        ):
            raise UPTError(
                "WorldConfig: scales, eta, ridge, imbalance and offset_scale must be >= 0"
            )
        if self.projection == "flax":
            _head_cfg(self)  # validates head, loss, schedule, dropout, epochs, ...
        k = text.DATASETS[self.dataset]
        if self.n_videos is not None and int(self.n_videos) < k:
            raise UPTError(
                f"WorldConfig.n_videos={self.n_videos} is below the number of classes ({k}); "
                "every class needs at least one video"
            )

    def to_dict(self) -> dict:
        """The configuration as a JSON-ready dict."""
        return dataclasses.asdict(self)


#: Preset name -> overrides of :class:`WorldConfig` (see the module docstring).
PRESETS: dict[str, dict[str, Any]] = {
    "clean": {"eta": 0.0},
    "default": {"eta": 4.75},
    "hard": {"eta": 6.0},
}


def make_world_config(
    dataset: str = "ucf101", preset: str = "default", **overrides
) -> WorldConfig:
    """A :class:`WorldConfig` from a preset plus overrides.

    Args:
        dataset: ``"ucf101"`` or ``"hmdb51"``.
        preset: a key of :data:`PRESETS`.
        **overrides: any :class:`WorldConfig` field.

    Returns:
        The configuration.
    """
    if preset not in PRESETS:
        raise UPTError(f"preset={preset!r}; choose one of {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(WorldConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise UPTError(f"unknown WorldConfig fields {unknown}; valid: {sorted(fields)}")
    values = {**PRESETS[preset], **overrides}
    return WorldConfig(dataset=dataset, preset=preset, **values)


class World(NamedTuple):
    """A generated world (NumPy arrays; float32 unless said otherwise).

    Attributes:
        class_names: ``K`` test class names (the dataset's official order).
        prototypes: ``[K, d]`` unit test-class prototypes.
        videos: ``[N, d]`` unit projections of the test videos.
        labels: ``[N]`` int32 class index of each test video.
        video_names: ``N`` paths ``"Class/v_Class_gGG_cCC.avi"``.
        seen_names: the seen (training) class names.
        seen_prototypes: ``[S, d]`` unit seen-class prototypes.
        projection: the universal model's parameters (a Flax parameter tree
            for ``"flax"``, ``{"B": [D, d]}`` for ridge).
        features: ``[N, D]`` raw test features, or None.
        meta: configuration, timings, training loss, sizes.
    """

    class_names: list
    prototypes: np.ndarray
    videos: np.ndarray
    labels: np.ndarray
    video_names: list
    seen_names: list
    seen_prototypes: np.ndarray
    projection: Any
    features: np.ndarray | None
    meta: dict


def class_sizes(
    rng: np.random.Generator, n_classes: int, total: int, lo: int, hi: int
) -> np.ndarray:
    """Class sizes in ``[lo, hi]`` that sum exactly to ``total``.

    Args:
        rng: NumPy generator.
        n_classes: ``K``.
        total: ``N``, with ``K * lo <= N <= K * hi``.
        lo, hi: size bounds.

    Returns:
        ``[K]`` int64 sizes.
    """
    if not n_classes * lo <= total <= n_classes * hi:
        raise UPTError(
            f"cannot split {total} videos into {n_classes} classes of {lo}-{hi}"
        )
    sizes = rng.integers(lo, hi + 1, size=n_classes)
    diff = int(total - sizes.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        movable = np.flatnonzero((sizes + step >= lo) & (sizes + step <= hi))
        pick = rng.choice(movable, size=min(abs(diff), movable.size), replace=False)
        sizes[pick] += step
        diff -= step * pick.size
    return sizes


def zipf_sizes(
    base: np.ndarray, exponent: float, rng: np.random.Generator
) -> np.ndarray:
    """Zipf-imbalanced class sizes with the same total as ``base``.

    Class ``c`` gets a random rank ``r_c`` (a permutation of ``1..K`` drawn
    from ``rng``) and a size proportional to ``base_c * r_c**(-exponent)``,
    rounded by largest remainders to integers that sum to ``base.sum()``,
    each at least 1. ``exponent = 0`` returns ``base`` unchanged.

    Args:
        base: ``[K]`` positive int balanced sizes.
        exponent: ``s >= 0``.
        rng: NumPy generator for the ranks.

    Returns:
        ``[K]`` int64 sizes.
    """
    base = np.asarray(base, np.int64)
    total, k = int(base.sum()), base.size
    if exponent < 0 or total < k:
        raise UPTError(
            f"zipf_sizes: need exponent >= 0 and at least one video per class, got "
            f"exponent={exponent}, {total} videos for {k} classes"
        )
    ranks = rng.permutation(k) + 1
    if exponent == 0:
        return base.copy()
    w = base * ranks.astype(np.float64) ** (-float(exponent))
    share = total * w / w.sum()
    sizes = np.floor(share).astype(np.int64)
    left = total - int(sizes.sum())
    order = np.argsort(-(share - sizes), kind="stable")
    sizes[order[:left]] += 1
    while np.any(sizes < 1):  # every class keeps a video, taken from the largest
        sizes[np.argmin(sizes)] += 1
        sizes[np.argmax(sizes)] -= 1
    return sizes


def scale_offset(videos: np.ndarray, rho: float) -> np.ndarray:
    """Scales the common component of unit projections: the kind-of-bias knob.

    ``y_i <- normalise(y_i - (1 - rho) mean_j y_j)``: ``rho = 1`` leaves the
    projections unchanged, ``rho = 0`` removes their mean (and with it the
    per-class score offsets ``<mean, p_k>``), ``rho > 1`` strengthens it.

    Args:
        videos: ``[N, d]`` unit projections.
        rho: ``>= 0``.

    Returns:
        ``[N, d]`` float32 unit vectors.
    """
    y = np.asarray(videos, np.float64)
    y = y - (1.0 - float(rho)) * y.mean(axis=0, keepdims=True)
    return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def video_names(class_names, sizes) -> list[str]:
    """UCF-style video paths ``"Class/v_Class_gGG_cCC.avi"`` (25 groups per class)."""
    names = []
    for name, size in zip(class_names, sizes):
        for j in range(int(size)):
            names.append(f"{name}/v_{name}_g{j % 25 + 1:02d}_c{j // 25 + 1:02d}.avi")
    return names


def fit_ridge(features: np.ndarray, targets: np.ndarray, strength: float) -> dict:
    """Closed-form ridge regression ``features @ B ~ targets``.

    Args:
        features: ``[n, D]``.
        targets: ``[n, d]``.
        strength: ridge, a multiple of the mean eigenvalue of ``X^T X``.

    Returns:
        ``{"B": [D, d] float32}``.
    """
    x = np.asarray(features, np.float64)
    gram = x.T @ x
    reg = strength * np.trace(gram) / gram.shape[0]
    b = np.linalg.solve(
        gram + reg * np.eye(gram.shape[0]), x.T @ np.asarray(targets, np.float64)
    )
    return {"B": b.astype(np.float32)}


def project(params, features: np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """Applies a world's universal model to visual features.

    Args:
        params: ``World.projection``.
        features: ``[n, D]`` visual features.
        cfg: the world's configuration (``projection`` and head fields).

    Returns:
        ``[n, d]`` float32 unit vectors.
    """
    if cfg.projection == "ridge":
        out = np.asarray(features, np.float32) @ params["B"]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
    from upt_jax import models

    return np.asarray(
        models.apply_projection(
            params, np.asarray(features, np.float32), _head_cfg(cfg)
        )
    )


def _head_cfg(cfg: WorldConfig, l2: float = 0.0):
    from upt_jax import models

    return models.ProjectionConfig(
        kind=cfg.head,
        hidden=cfg.hidden,
        dropout=cfg.dropout,
        loss=cfg.loss,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        l2=float(l2),
        use_bias=cfg.use_bias,
        schedule=cfg.schedule,
    )


def _normal(rng, shape, scale):
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)


def generate_world(cfg: WorldConfig, *, progress: bool = False, params: Any = None) -> World:
    """Generates a world and trains its universal model on the seen classes.

    Args:
        cfg: the configuration (see :func:`make_world_config`).
        progress: show a progress bar while training a Flax head.
        params: trained projection parameters to reuse (e.g. loaded with
            :func:`upt_jax.models.load_params` from an earlier run of the same
            config); ``None`` trains them.

    Returns:
        The :class:`World`.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    class_names = text.load_class_names(cfg.dataset)
    test = text.load_prototypes(cfg.dataset)
    kin_names = text.load_class_names("kinetics400")
    kin = text.load_prototypes("kinetics400")
    keep = text.filter_seen(kin, test, cfg.min_seen_distance)
    seen_names = [n for n, k in zip(kin_names, keep) if k]
    seen = kin[keep]
    k, d = test.shape
    big_d = int(cfg.visual_dim)

    n_real, lo, hi = DATASET_SIZES[cfg.dataset]
    n = n_real if cfg.n_videos is None else int(cfg.n_videos)
    if n != n_real:  # scale the per-class range to the requested size
        ratio = n / n_real
        lo, hi = max(1, int(np.floor(lo * ratio))), max(1, int(np.ceil(hi * ratio)))
        lo, hi = min(lo, n // k), max(hi, -(-n // k))
    sizes = class_sizes(rng, k, n, lo, hi)
    if cfg.imbalance > 0:  # own generator: the main stream stays as in the balanced world
        sizes = zipf_sizes(
            sizes, cfg.imbalance, np.random.default_rng([int(cfg.seed), 0x21BF])
        )

    # appearance model
    basis = np.linalg.qr(rng.standard_normal((d, int(cfg.semantic_rank))))[0]
    gmat = _normal(rng, (big_d, d), cfg.signal_scale / np.sqrt(big_d))
    w = (gmat @ basis @ basis.T * np.sqrt(d / cfg.semantic_rank)).astype(np.float32)
    v_seen = _normal(rng, (len(seen), big_d), cfg.class_scale / np.sqrt(big_d))
    v_test = _normal(rng, (k, big_d), cfg.class_scale / np.sqrt(big_d))
    nuisance = np.linalg.qr(rng.standard_normal((big_d, int(cfg.nuisance_dim))))[
        0
    ].astype(np.float32)
    shared = rng.standard_normal(big_d).astype(np.float32)
    shared *= np.float32(cfg.shared_scale) / np.linalg.norm(shared)
    v_seen += shared
    v_test += shared

    # seen training videos
    y_seen = np.repeat(np.arange(len(seen)), int(cfg.videos_per_seen_class))
    x_seen = seen[y_seen] @ w.T + v_seen[y_seen]
    x_seen += _normal(rng, x_seen.shape, cfg.video_scale / np.sqrt(big_d))

    # unseen test videos
    labels = np.repeat(np.arange(k), sizes).astype(np.int32)
    x_test = test[labels] @ w.T + v_test[labels]
    x_test += _normal(rng, x_test.shape, cfg.video_scale / np.sqrt(big_d))
    if cfg.eta > 0:
        xi = _normal(
            rng, (n, int(cfg.nuisance_dim)), cfg.eta / np.sqrt(cfg.nuisance_dim)
        )
        x_test += xi @ nuisance.T
    t_gen = time.perf_counter() - t0

    # universal model, seen classes only
    history: dict = {}
    if params is not None:
        history = {"loss": [], "loaded": True}
    elif cfg.projection == "ridge":
        params = fit_ridge(x_seen, seen[y_seen], cfg.ridge)
        residual = x_seen @ params["B"] - seen[y_seen]
        history = {"loss": [float(np.mean(np.sum(residual**2, axis=1)))]}
    else:
        import jax

        from upt_jax import models

        params, history = models.train_projection(
            jax.random.key(cfg.seed),
            x_seen,
            seen[y_seen],
            _head_cfg(cfg, models.ridge_l2(x_seen, cfg.ridge)),
            progress=progress,
        )
    videos = project(params, x_test, cfg)
    if cfg.offset_scale != 1.0:
        videos = scale_offset(videos, cfg.offset_scale)
    t_total = time.perf_counter() - t0

    meta = {
        "config": cfg.to_dict(),
        "synthetic": True,
        "n_videos": int(n),
        "n_classes": int(k),
        "n_seen_classes": len(seen),
        "n_seen_videos": len(y_seen),
        "class_sizes": [int(s) for s in sizes],
        "seconds_generate": round(t_gen, 3),
        "seconds_total": round(t_total, 3),
        "train_loss": [float(x) for x in history.get("loss", [])],
        "text_model": text.MODEL_NAME,
    }
    return World(
        class_names=list(class_names),
        prototypes=test.astype(np.float32),
        videos=videos.astype(np.float32),
        labels=labels,
        video_names=video_names(class_names, sizes),
        seen_names=seen_names,
        seen_prototypes=seen.astype(np.float32),
        projection=params,
        features=x_test.astype(np.float32) if cfg.keep_features else None,
        meta=meta,
    )
