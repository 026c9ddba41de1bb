"""Box geometry and object-aware box scores against hand-built cases and
NumPy loops of the definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import distance as sp_distance

from upt_jax.localization import boxes as B
from upt_jax.localization import scoring as S

pytestmark = pytest.mark.fast


def test_tile_fractions_hand_cases():
    p = np.array([10.0, 10.0, 20.0, 20.0])
    inside = B.tile_fractions(p, np.array([12.0, 12.0, 18.0, 18.0]))
    np.testing.assert_allclose(inside, np.eye(9)[4])
    # covers the whole 3 x 3 grid in equal 10 x 10 pieces
    np.testing.assert_allclose(B.tile_fractions(p, np.array([0.0, 0.0, 30.0, 30.0])), np.full(9, 1 / 9), rtol=1e-6)
    # half above (tile 1), half on the actor (tile 4)
    np.testing.assert_allclose(B.tile_fractions(p, np.array([12.0, 5.0, 18.0, 15.0])), 0.5 * (np.eye(9)[1] + np.eye(9)[4]))
    # below-right corner only (image y grows downward)
    np.testing.assert_allclose(B.tile_fractions(p, np.array([25.0, 25.0, 30.0, 40.0])), np.eye(9)[8])
    # 1/4 left, 3/4 on; rows: on
    np.testing.assert_allclose(B.tile_fractions(p, np.array([8.0, 12.0, 16.0, 14.0])), 0.25 * np.eye(9)[3] + 0.75 * np.eye(9)[4])
    # a degenerate object box has no area: all zeros
    np.testing.assert_allclose(B.tile_fractions(p, np.array([1.0, 1.0, 1.0, 5.0])), np.zeros(9))


def test_jsd_known_values():
    p = np.array([0.2, 0.3, 0.5])
    assert float(B.jsd(p, p)) == pytest.approx(0.0, abs=1e-7)
    assert float(B.jsd(np.array([1.0, 0, 0]), np.array([0, 0.5, 0.5]))) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.dirichlet(np.ones(9)), rng.dirichlet(np.ones(9) * 0.3)
        b[rng.integers(9)] = 0
        b /= b.sum()
        ref = sp_distance.jensenshannon(a, b, base=2) ** 2
        assert float(B.jsd(jnp.asarray(a), jnp.asarray(b))) == pytest.approx(ref, abs=1e-6)


def test_gap_distance_and_iou():
    p = np.array([0.0, 0.0, 10.0, 10.0])
    assert float(B.gap_distance(p, np.array([5.0, 5.0, 15.0, 15.0]))) == 0.0  # overlap
    assert float(B.gap_distance(p, np.array([10.0, 0.0, 20.0, 5.0]))) == 0.0  # touching
    assert float(B.gap_distance(p, np.array([15.0, 2.0, 20.0, 8.0]))) == pytest.approx(5.0)  # 5 px to the right
    assert float(B.gap_distance(p, np.array([-9.0, 14.0, -3.0, 20.0]))) == pytest.approx(5.0)  # (3, 4) diagonal
    assert float(B.gap_distance(np.array([15.0, 2.0, 20.0, 8.0]), p)) == pytest.approx(5.0)  # symmetric
    assert float(B.iou(p, p)) == pytest.approx(1.0)
    assert float(B.iou(p, np.array([20.0, 20.0, 30.0, 30.0]))) == 0.0
    assert float(B.iou(p, np.array([5.0, 0.0, 15.0, 10.0]))) == pytest.approx(1 / 3)


def np_pair_g(pb, pm, ob, ol, os_, om, priors, max_dist, top_objects_of_action, w_of_action):
    """Box scores of one frame by loops over boxes, as the definition reads."""
    def tiles(p, b):
        xs = [(-np.inf, p[0]), (p[0], p[2]), (p[2], np.inf)]
        ys = [(-np.inf, p[1]), (p[1], p[3]), (p[3], np.inf)]
        out = np.zeros(9)
        for r, (y0, y1) in enumerate(ys):
            for c, (x0, x1) in enumerate(xs):
                w = max(0.0, min(b[2], x1) - max(b[0], x0))
                h = max(0.0, min(b[3], y1) - max(b[1], y0))
                out[3 * r + c] = w * h
        return out / ((b[2] - b[0]) * (b[3] - b[1]))

    def gap(p, b):
        dx = max(0.0, b[0] - p[2], p[0] - b[2])
        dy = max(0.0, b[1] - p[3], p[1] - b[3])
        return np.sqrt(dx * dx + dy * dy)

    def jsd(a, b):
        m = 0.5 * (a + b)
        kl = lambda x: sum(xi * np.log2(xi / mi) for xi, mi in zip(x, m) if xi > 0)  # noqa: E731
        return 0.5 * kl(a) + 0.5 * kl(b)

    out = np.zeros((len(pb), len(top_objects_of_action)))
    for i in range(len(pb)):
        if not pm[i]:
            continue
        for a, (objs, ws) in enumerate(zip(top_objects_of_action, w_of_action)):
            total = 0.0
            for o, w in zip(objs, ws):
                best, bi = -np.inf, -1
                for q in range(len(ob)):
                    if om[q] and ol[q] == o and gap(pb[i], ob[q]) <= max_dist and os_[q] > best:
                        best, bi = os_[q], q
                if bi >= 0:
                    total += w * os_[bi] * (1 - jsd(priors[o], tiles(pb[i], ob[bi])))
            out[i, a] = total
    return out


def test_box_scores_match_loops_with_ties():
    rng = np.random.default_rng(3)
    t, p, q, o, a = 4, 5, 9, 6, 3
    xy = rng.uniform(0, 80, size=(t, p, 2))
    pb = np.concatenate([xy, xy + rng.uniform(10, 30, size=(t, p, 2))], -1)
    xy = rng.uniform(0, 100, size=(t, q, 2))
    ob = np.concatenate([xy, xy + rng.uniform(3, 20, size=(t, q, 2))], -1)
    ol = rng.integers(0, o, size=(t, q))
    os_ = rng.choice([0.3, 0.6, 0.9], size=(t, q))  # many exact ties: the lower index must win
    om = rng.random((t, q)) > 0.2
    pm = rng.random((t, p)) > 0.2
    priors = rng.dirichlet(np.ones(9), size=o)
    ps = rng.random((t, p))
    protos = rng.normal(size=(a, 8))
    oprotos = rng.normal(size=(o, 8))
    idx, w, dense = jax.jit(S.object_weights, static_argnums=2)(jnp.asarray(protos, jnp.float32), jnp.asarray(oprotos, jnp.float32), 2)
    f = lambda *xs: S.box_scores(xs[0], S.pair_terms(*xs[1:8], 20.0), xs[8])  # noqa: E731
    got = jax.jit(f)(ps, pb, pm, ob, ol, os_, om, priors, dense)
    f32 = [np.asarray(v, np.float32) if v.dtype == np.float64 else v for v in (ps, pb, pm, ob, ol, os_, om, priors)]
    eager = f(*f32, dense)  # jit = no-jit (op by op, float32 as under jit)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(got), rtol=1e-6, atol=1e-6)
    for ti in range(t):
        ref = ps[ti][:, None] + np_pair_g(pb[ti], pm[ti], ob[ti], ol[ti], os_[ti], om[ti], priors, 20.0,
                                          np.asarray(idx), np.asarray(w, np.float64))
        np.testing.assert_allclose(np.asarray(got[ti])[pm[ti]], ref[pm[ti]], atol=2e-5)
    # weights: raw cosines of the top objects
    pn = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    on = oprotos / np.linalg.norm(oprotos, axis=1, keepdims=True)
    cos = pn @ on.T
    np.testing.assert_array_equal(np.asarray(idx), np.argsort(-cos, axis=1, kind="stable")[:, :2])
    np.testing.assert_allclose(np.asarray(w), np.sort(cos, axis=1)[:, ::-1][:, :2], atol=1e-6)
    # zero objects: actor-only
    idx0, w0, d0 = S.object_weights(jnp.asarray(protos, jnp.float32), jnp.asarray(oprotos, jnp.float32), 0)
    assert idx0.shape == (a, 0) and float(jnp.abs(d0).sum()) == 0.0
