"""The reference pipeline: the example code's choices, written for the benchmark.

Same libraries and choices as the UPT example code (our own code, not a copy):

1. ``sklearn.cluster.KMeans(n_clusters=C, n_init=10)`` on the L2-normalised
   projections, then L2-normalised centres (C = N: the videos themselves);
2. cost ``1 - cos(prototype, centre)`` divided by its maximum;
3. ``ot.emd`` (POT network simplex) with uniform masses;
4. per class, in a Python loop, geomstats ``FrechetMean`` on
   ``Hypersphere(dim=d-1)`` with default settings, the coupling row as weights;
5. NumPy slerp in the EXAMPLE convention (``slerp(p1, p2, L)`` returns ``p1``
   at ``L = 1``; the example's ``-l L`` is our ``lam = 1 - L``) and
   nearest-prototype classification.

Needs the ``bench`` extra: ``pip install 'upt_jax[bench]'`` (POT,
scikit-learn, geomstats). geomstats 2.8.0 imports ``numpy.trapz``, removed in
NumPy 2.4: :func:`_import_geomstats` adds the alias before importing it.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_reference", "slerp_example", "versions"]


def _import_geomstats():
    if not hasattr(np, "trapz"):  # geomstats 2.8 vs NumPy >= 2.4
        np.trapz = np.trapezoid
    import geomstats  # noqa: F401
    from geomstats.geometry.hypersphere import Hypersphere
    from geomstats.learning.frechet_mean import FrechetMean

    return Hypersphere, FrechetMean


def versions() -> dict:
    import ot
    import sklearn

    _import_geomstats()
    import geomstats

    return {"scikit-learn": sklearn.__version__, "POT": ot.__version__, "geomstats": geomstats.__version__}


def _normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def slerp_example(p1: np.ndarray, p2: np.ndarray, t: float) -> np.ndarray:
    """The example code's convention: returns ``p1`` at ``t = 1`` and ``p2`` at ``t = 0``."""
    omega = np.arccos(np.clip(np.sum(p1 * p2, -1, keepdims=True), -1.0, 1.0))
    so = np.sin(omega)
    safe = np.where(so > 1e-8, so, 1.0)
    out = np.where(so > 1e-8, (np.sin(t * omega) * p1 + np.sin((1.0 - t) * omega) * p2) / safe, p1)
    return _normalize(out)


def run_reference(prototypes, videos, labels, *, n_clusters=1000, n_init=10, lams=(0.5,), seed=0, class_idx=None):
    """One example-code run (per lam only the update and classify repeat).

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]``; labels: ``[N]``.
      n_clusters: C (``>= N`` or 0: no clustering).
      lams: fractions travelled (our convention).
      class_idx: optional class subset (a split): restricts classes and videos.

    Returns:
      dict with stage times (s), top-1 (%) per lam, the baseline top-1 and,
      with clustering, scikit-learn's ``inertia`` and ``n_iter`` (best restart).
    """
    import ot
    from sklearn.cluster import KMeans

    Hypersphere, FrechetMean = _import_geomstats()
    times = {}
    protos = _normalize(np.asarray(prototypes, np.float64))
    x = _normalize(np.asarray(videos, np.float32))
    lab = np.asarray(labels)
    if class_idx is not None:
        keep = np.isin(lab, class_idx)
        x, lab = x[keep], np.searchsorted(class_idx, lab[keep])
        protos = protos[class_idx]
    t = time.perf_counter()
    kmeans = {}
    if n_clusters and n_clusters < len(x):
        km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit(x)
        centres = _normalize(km.cluster_centers_.astype(np.float64))
        kmeans = {"inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}
    else:
        centres = x.astype(np.float64)
    times["clustering"] = time.perf_counter() - t
    t = time.perf_counter()
    cost = 1.0 - protos @ centres.T
    cost = cost / cost.max()
    times["cost"] = time.perf_counter() - t
    t = time.perf_counter()
    k, c = cost.shape
    plan = ot.emd(np.full(k, 1.0 / k), np.full(c, 1.0 / c), cost)
    times["transport"] = time.perf_counter() - t
    t = time.perf_counter()
    space = Hypersphere(dim=protos.shape[1] - 1)
    targets = np.zeros_like(protos)
    for i in range(k):
        fm = FrechetMean(space)
        fm.fit(centres, weights=plan[i] / plan[i].sum())
        targets[i] = fm.estimate_
    times["frechet"] = time.perf_counter() - t
    t = time.perf_counter()
    baseline = 100.0 * float(np.mean(np.argmax(x @ protos.T, axis=1) == lab))
    top1 = {}
    for lam in lams:
        new = slerp_example(protos, targets, 1.0 - lam)
        pred = np.argmax(x @ new.T, axis=1)
        top1[float(lam)] = 100.0 * float(np.mean(pred == lab))
    times["update_classify"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return {"times": times, "top1": top1, "baseline_top1": baseline, "kmeans": kmeans}
