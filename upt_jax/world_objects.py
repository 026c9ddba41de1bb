"""An object vocabulary for the default worlds (synthetic object scores).

Object names are the 1,000 ImageNet-1k categories with their real
all-MiniLM-L6-v2 prototypes (``upt_jax/assets/imagenet1k_*``, embedded like
the class names). The per-video object probabilities ``p(o|v)`` are
SYNTHETIC, generated from action-object co-occurrences that agree only
PARTLY with semantic similarity (the bias UPT for object models addresses):

* every action ``c`` has ``n_true`` co-occurring objects: a fraction
  ``agreement`` of them drawn from its ``semantic_pool`` semantically nearest
  objects (not necessarily the very nearest), the rest drawn at random from
  all objects; their weights ``~ Dirichlet(1)``;
* a set of ``n_background`` popular objects (random) appears in every video
  (a test-set bias unrelated to the action);
* video ``i`` of class ``c``: ``p_i = (1 - b - r) Dir(conc * w_c) on c's
  objects + b Dir(1) on the background objects + r Dir(1) on
  ``n_noise`` random objects``, ``b = background``, ``r = noise``, then a
  small floor on all objects and renormalisation.

Like the rest of the world, this reproduces a phenomenon, not a measurement:
the size of any object-model or fusion gain here says nothing about real data.
Everything is a function of the arguments (NumPy generator seeded by ``seed``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upt_jax import text
from upt_jax.errors import UPTError

__all__ = ["OBJECT_VOCABULARY", "add_objects", "with_objects"]

#: The shipped object vocabulary (``upt_jax.text`` asset name).
OBJECT_VOCABULARY = "imagenet1k"


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def add_objects(
    world: Any,
    *,
    seed: int = 0,
    n_objects: int | None = None,
    n_true: int = 12,
    agreement: float = 0.6,
    semantic_pool: int = 30,
    concentration: float = 3.0,
    n_background: int = 25,
    background: float = 0.25,
    n_noise: int = 8,
    noise: float = 0.2,
    floor: float = 1e-5,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Give a world an object vocabulary and per-video object probabilities.

    Args:
      world: anything with ``prototypes [K, d]`` (384-d MiniLM class
        prototypes) and ``labels [N]`` (e.g. :class:`upt_jax.world.World`).
      seed: NumPy seed of the object generator.
      n_objects: ``O``; ``None`` = all 1,000 ImageNet-1k categories, fewer =
        a seeded random subset (in vocabulary order).
      n_true: co-occurring objects per action.
      agreement: fraction of them drawn from the ``semantic_pool`` nearest
        objects (1 = co-occurrence follows semantics, 0 = unrelated).
      semantic_pool: how many nearest objects the semantic ones come from.
      concentration: Dirichlet concentration of a video around its action's
        object weights (higher = videos agree more with their class).
      n_background, background: popular objects present in every video and
        their share of each video's probability mass.
      n_noise, noise: random objects per video and their share.
      floor: probability added to every object before renormalising.

    Returns:
      ``(object_names [O] list[str], object_prototypes [O, d] float32 unit
      rows, object_probs [N, O] float32 rows summing to 1)``.
    """
    protos = np.asarray(world.prototypes, np.float64)
    labels = np.asarray(world.labels, np.int64)
    names = text.load_class_names(OBJECT_VOCABULARY)
    objs = np.asarray(text.load_prototypes(OBJECT_VOCABULARY), np.float64)
    if objs.shape[1] != protos.shape[1]:
        raise UPTError(
            f"world.prototypes {list(protos.shape)} and the {OBJECT_VOCABULARY} object prototypes "
            f"{list(objs.shape)} differ in d; the world must use the shipped MiniLM class prototypes"
        )
    if not 0.0 <= agreement <= 1.0:
        raise UPTError(f"agreement must lie in [0, 1], got {agreement}")
    if background < 0 or noise < 0 or background + noise >= 1:
        raise UPTError(f"background={background} and noise={noise} must be >= 0 with a sum below 1")
    rng = np.random.default_rng(seed)
    total = objs.shape[0]
    o = total if n_objects is None else int(n_objects)
    if not 1 <= o <= total:
        raise UPTError(f"n_objects must lie in [1, {total}], got {n_objects}")
    if o < total:
        keep = np.sort(rng.choice(total, o, replace=False))
        names = [names[i] for i in keep]
        objs = objs[keep]
    objs = _l2(objs)
    k = protos.shape[0]
    n_true = min(int(n_true), o)
    pool = min(int(semantic_pool), o)
    sim = _l2(protos) @ objs.T  # [K, O]
    order = np.argsort(-sim, axis=1, kind="stable")

    support = np.zeros((k, n_true), np.int64)
    weights = np.zeros((k, n_true))
    n_sem = int(round(agreement * n_true))
    for c in range(k):
        sem = rng.choice(order[c, :pool], min(n_sem, pool), replace=False)
        rest = np.setdiff1d(np.arange(o), sem)
        rand = rng.choice(rest, n_true - sem.size, replace=False)
        support[c] = np.concatenate([sem, rand])
        weights[c] = rng.dirichlet(np.ones(n_true))
    bg_idx = rng.choice(o, min(int(n_background), o), replace=False)
    bg_w = rng.dirichlet(np.ones(bg_idx.size))

    n = labels.shape[0]
    probs = np.full((n, o), floor, np.float64)
    rows = np.arange(n)[:, None]
    own = rng.gamma(concentration * weights[labels] + 1e-3)  # [N, n_true]
    own /= own.sum(axis=1, keepdims=True)
    np.add.at(probs, (rows, support[labels]), (1.0 - background - noise) * own)
    if bg_idx.size and background > 0:
        bgv = rng.gamma(concentration * bg_w[None, :] * bg_idx.size / 4.0 + 1e-3, size=(n, bg_idx.size))
        bgv /= bgv.sum(axis=1, keepdims=True)
        np.add.at(probs, (rows, np.broadcast_to(bg_idx, (n, bg_idx.size))), background * bgv)
    if n_noise > 0 and noise > 0:
        m = min(int(n_noise), o)
        idx = np.argsort(rng.random((n, o)), axis=1)[:, :m]
        nz = rng.dirichlet(np.ones(m), size=n)
        np.add.at(probs, (rows, idx), noise * nz)
    probs /= probs.sum(axis=1, keepdims=True)
    return list(names), objs.astype(np.float32), probs.astype(np.float32)


def with_objects(world: Any, *, seed: int = 0, **kwargs):
    """A :class:`upt_jax.data.Dataset` of ``world`` with generated objects.

    Args:
      world: a :class:`upt_jax.world.World`.
      seed, kwargs: passed to :func:`add_objects`.

    Returns:
      :class:`upt_jax.data.Dataset` with ``object_names``,
      ``object_prototypes`` and ``object_probs`` set; ``meta["objects"]``
      records the generator arguments.
    """
    from upt_jax.data import Dataset

    names, oprotos, oprobs = add_objects(world, seed=seed, **kwargs)
    meta = dict(getattr(world, "meta", {}) or {})
    meta["objects"] = {"vocabulary": OBJECT_VOCABULARY, "seed": seed, **kwargs}
    return Dataset(
        name=str(meta.get("config", {}).get("dataset", "world")),
        class_names=list(world.class_names),
        prototypes=np.asarray(world.prototypes, np.float32),
        videos=np.asarray(world.videos, np.float32),
        labels=np.asarray(world.labels, np.int32),
        video_names=list(world.video_names),
        object_names=names,
        object_prototypes=oprotos,
        object_probs=oprobs,
        meta=meta,
    )
