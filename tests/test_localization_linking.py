"""Viterbi tubes against brute-force enumeration of all paths, K tubes against
a NumPy loop, jit = no-jit and vmap = loop."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax.localization import linking as L

pytestmark = pytest.mark.fast


def random_case(rng, t=5, p=3, empty=(2,)):
    xy = rng.uniform(0, 40, size=(t, p, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 30, size=(t, p, 2))], -1).astype(np.float32)
    mask = rng.random((t, p)) > 0.25
    mask[:, 0] |= True
    for e in empty:
        mask[e] = False
    scores = rng.normal(size=(t, p)).astype(np.float32)
    return boxes, mask, scores


def np_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def brute_force(boxes, mask, scores, w):
    """Best path over all choices of one box per non-empty frame."""
    frames = [t for t in range(len(mask)) if mask[t].any()]
    best, arg = -np.inf, None
    for choice in itertools.product(*[np.flatnonzero(mask[t]) for t in frames]):
        val = sum(float(scores[t, c]) for t, c in zip(frames, choice))
        val += w * sum(np_iou(boxes[t0, c0], boxes[t1, c1]) for (t0, c0), (t1, c1) in zip(zip(frames, choice), zip(frames[1:], choice[1:])))
        if val > best + 1e-9:
            best, arg = val, choice
    path = -np.ones(len(mask), int)
    path[frames] = arg
    return path, best


def np_k_tubes(boxes, mask, scores, w, k):
    s = scores.astype(np.float64).copy()
    out = []
    for _ in range(k):
        path, obj = brute_force(boxes, mask, s, w)
        used = [(t, c) for t, c in enumerate(path) if c >= 0]
        mean = np.mean([scores[t, c] for t, c in used])
        for t, c in used:
            s[t, c] = 0.0
        out.append((path, mean, obj))
    return out


# One box-array shape (T, P) = (5, 3) and one jitted function per linking
# function for every test, so compilations are shared (tests stay fast).
T, P = 5, 3
VITERBI = jax.jit(L.viterbi)
K_TUBES = jax.jit(L.k_tubes, static_argnums=3)
LINKS = jax.jit(L.frame_links)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_viterbi_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    boxes, mask, scores = random_case(rng, t=T, p=P, empty=(2,) if seed % 2 else (0, 3))
    links = LINKS(boxes, mask)
    for w in (0.0, 1.0, 3.0):
        path, obj = VITERBI(scores, links, w)
        ref_path, ref = brute_force(boxes, mask, scores, w)
        np.testing.assert_array_equal(np.asarray(path), ref_path)
        assert float(obj) == pytest.approx(ref, abs=1e-5)


def test_k_tubes_zero_used_boxes_and_mean_original_scores():
    rng = np.random.default_rng(7)
    boxes, mask, scores = random_case(rng, t=T, p=P, empty=(1,))
    tubes = K_TUBES(scores, LINKS(boxes, mask), 1.0, 4)
    ref = np_k_tubes(boxes, mask, scores, 1.0, 4)
    for k, (path, mean, obj) in enumerate(ref):
        np.testing.assert_array_equal(np.asarray(tubes.boxes[k]), path)
        assert float(tubes.scores[k]) == pytest.approx(mean, abs=1e-5)
        assert float(tubes.path_scores[k]) == pytest.approx(obj, abs=1e-5)


def test_no_person_box_gives_no_tube():
    boxes = np.zeros((T, P, 4), np.float32)
    tubes = K_TUBES(np.zeros((T, P), np.float32), LINKS(boxes, np.zeros((T, P), bool)), 1.0, 4)
    assert np.all(np.asarray(tubes.boxes) == -1) and np.all(np.isneginf(np.asarray(tubes.scores)))


def test_jit_equals_nojit_and_vmap_equals_loop():
    rng = np.random.default_rng(11)
    boxes, mask, _ = random_case(rng, t=T, p=P, empty=(3,))
    eager_links = L.frame_links(boxes, mask)  # no jit
    links = LINKS(boxes, mask)
    for a, b in zip(eager_links, links):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    scores = rng.normal(size=(5, T, P)).astype(np.float32)  # 5 actions
    batched = jax.jit(jax.vmap(lambda s: L.k_tubes(s, links, 0.7, 4)))(jnp.asarray(scores))
    for a in range(5):
        jitted = K_TUBES(scores[a], links, 0.7, 4)
        np.testing.assert_array_equal(np.asarray(batched.boxes[a]), np.asarray(jitted.boxes))
        for x, z in zip(batched[1:], jitted[1:]):  # float sums: fusion may change the last bit
            np.testing.assert_allclose(np.asarray(x[a]), np.asarray(z), rtol=1e-6)
    loop = L.k_tubes(jnp.asarray(scores[0]), eager_links, 0.7, 4)  # no jit (op by op: once)
    np.testing.assert_array_equal(np.asarray(loop.boxes), np.asarray(batched.boxes[0]))
    for y, x in zip(loop[1:], batched[1:]):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x[0]), rtol=1e-6)
