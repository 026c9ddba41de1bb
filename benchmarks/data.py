"""Seeded synthetic data for the benchmarks (NumPy only, no project data needed).

Two generators:

- :func:`ucf_like`: the universal-model world of ``upt_jax/world.py`` (its recipe) in
  brief (topic-structured class-name vectors, a visual space, a ridge
  projection trained on seen classes, a test-domain nuisance). It gives
  UCF-101-sized data (N = 13,320, K = 101, d = 300) with realistic cluster
  structure and a biased projection, so k-means iteration counts and
  accuracies behave as on real data.
- :func:`sphere_mixture`: a cheap generator for the scaling study (any N, K,
  d): noisy, biased points around class directions on the sphere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ucf_like", "sphere_mixture", "normalize"]


def normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _sizes(rng, k, n, lo=100, hi=160):
    sizes = rng.integers(lo, hi + 1, k)
    while sizes.sum() != n:
        i = rng.integers(k)
        if sizes.sum() < n:
            sizes[i] += 1
        elif sizes[i] > 1:
            sizes[i] -= 1
    return sizes


def ucf_like(seed: int = 0, n: int = 13_320, k: int = 101, d: int = 300, big_d: int = 512, eta: float = 3.0):
    """UCF-101-sized world: returns (prototypes [k, d], videos [n, d], labels [n]) float32/int32."""
    rng = np.random.default_rng(seed)
    n_seen, n_topics = 400, 20
    mu = normalize(rng.normal(size=d))
    topics = normalize(rng.normal(size=(n_topics, d)))
    pop = rng.dirichlet(np.ones(n_topics))

    def classes(m):
        z = rng.choice(n_topics, size=m, p=pop)
        own = normalize(rng.normal(size=(m, d)))
        a = rng.uniform(0.25, 0.55, size=(m, 1))
        return normalize(a * mu + 0.6 * topics[z] + 0.7 * own)

    s_test, s_seen = classes(k), classes(n_seen)
    w = rng.normal(scale=1.0 / np.sqrt(big_d), size=(big_d, d))

    def videos(s, sizes, nuisance):
        lab = np.repeat(np.arange(len(sizes)), sizes)
        v = rng.normal(scale=0.75 / np.sqrt(big_d), size=(len(sizes), big_d))
        x = s[lab] @ w.T + v[lab] + rng.normal(scale=1.5 / np.sqrt(big_d), size=(len(lab), big_d))
        if nuisance:
            basis, _ = np.linalg.qr(rng.normal(size=(big_d, 10)))
            x += rng.normal(scale=eta / np.sqrt(10), size=(len(lab), 10)) @ basis.T
        return x, lab

    xs, ls = videos(s_seen, np.full(n_seen, 100), False)
    xt, lt = videos(s_test, _sizes(rng, k, n), True)
    gram = xs.T @ xs
    ridge = 3.0 * np.trace(gram) / big_d
    proj = np.linalg.solve(gram + ridge * np.eye(big_d), xs.T @ s_seen[ls])
    z = normalize(xt @ proj)
    return s_test.astype(np.float32), z.astype(np.float32), lt.astype(np.int32)


def sphere_mixture(seed: int, n: int, k: int, d: int, noise: float = 1.0, bias: float = 0.5):
    """Any-size data: (prototypes [k, d], videos [n, d], labels [n]), float32."""
    rng = np.random.default_rng(seed)
    protos = normalize(rng.normal(size=(k, d)).astype(np.float32))
    shared = normalize(rng.normal(size=d).astype(np.float32))
    labels = rng.integers(0, k, n).astype(np.int32)
    x = protos[labels] + bias * shared
    x += rng.normal(scale=noise / np.sqrt(d), size=(n, d)).astype(np.float32)
    return protos, normalize(x).astype(np.float32), labels
