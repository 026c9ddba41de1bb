"""The whole method (steps 1-6) against a NumPy loop implementation written
here; the grid (vmapped hyper-parameters) equals a loop of single runs and
the NumPy loops; lam = 0 is the baseline (the same objects, tubes and
matches); the robust facts of the simulated worlds.

Compilation dominates the cost of these tests, so every localization test
shares a few compiled programs, all at ONE padded input shape (that of 12
videos of the ``clean`` UCF Sports world with 12 frames; the tiny
``default`` world is padded to it: padded videos are masked and change
nothing):

- ``loc(x, lam, ...)``: the program ``upt localize`` runs (``localize``
  vmapped over lam 0 and ``lam``, :func:`upt_jax.cli._localization.run_rows`);
  with ``CFG`` (the options ``CLI_OPTS``) it serves these tests, ``upt
  localize`` in ``tests/test_localization_cli.py`` and the sweep test;
- ``loc(..., config=CFG.replace(object_transport="none"))``: the lam = 0
  test and the imported folder of the CLI test;
- ``GRID``: :func:`localize_grid`, jitted the way the sweep runner jits it
  (so ``tests/test_sweep_localization.py`` reuses its compilation).

The remaining programs of the localization tests are ``upt run --task
localization``'s (Sinkhorn, and its actor-only row).
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

from tests.test_localization_boxes import np_pair_g
from tests.test_localization_evaluate import np_video_map
from upt_jax.cli import _localization as CL
from upt_jax.errors import UPTError
from upt_jax.localization import LocalizationConfig, LocalizationHyper, check_inputs
from upt_jax.localization import data as D
from upt_jax.localization import world as W
from upt_jax.localization.evaluate import THRESHOLDS
from upt_jax.localization.pipeline import LocalizationGrid, localize_grid

THR = tuple(THRESHOLDS)  # the default ST-IoU thresholds (upt localize has no option for them)
#: ``upt localize`` options that give CFG (tests/test_localization_cli.py asserts it)
CLI_OPTS = ["--solver", "emd", "--top-objects", "2", "--tubes", "3", "--video-batch", "4"]
CFG = LocalizationConfig(top_objects=2, tubes=3, solver="emd", video_batch=4)
GRID = jax.jit(localize_grid, static_argnames="config")
#: grid sizes (L, N, W, M) = (2, 3, 2, 2) shared by the grid tests and the sweep test (values differ, shapes do not)
GRID_POINTS = dict(lam=(0.0, 0.5), top_objects=(0, 1, 2), iou_weight=(0.8, 2.0), max_dist=(30.0, 10.0))
#: the clean world of every test (``upt export``/``upt run`` options and sweep spec of the same world)
CLEAN_OPTS = ["--world", "ucf-sports", "--preset", "clean", "--n-videos", "12", "--n-frames", "12"]
CLEAN_SPEC = "world:ucf-sports:clean:n_videos=12:n_frames=12"


def loc(x, lam, iou_weight=1.0, max_dist=25.0, config=CFG):
    """``(result at lam 0, result at lam)`` of the compiled ``upt localize``
    program (NumPy leaves), called exactly as the command calls it."""
    hp = LocalizationHyper(lam=np.float32(lam), iou_weight=np.float32(iou_weight), max_dist=np.float32(max_dist),
                           epsilon=np.float32(1e-2), threshold=np.float32(1e-3))
    res = jax.block_until_ready(CL._compiled(config)(x, CL._stack(hp, [0.0, float(lam)])))
    return CL._index(res, 0), CL._index(res, 1)


def run_grid(x, grid: LocalizationGrid):
    """``GRID(x, CFG, grid)`` with NumPy leaves (indexing device arrays would
    compile a slice per shape)."""
    return jax.tree_util.tree_map(np.asarray, GRID(x, CFG, grid))


def grid_of(lam, top_objects, iou_weight, max_dist, epsilon=1e-2) -> LocalizationGrid:
    return LocalizationGrid(lam=np.asarray(lam, np.float32), top_objects=np.asarray(top_objects, np.int32),
                            iou_weight=np.asarray(iou_weight, np.float32), max_dist=np.asarray(max_dist, np.float32),
                            epsilon=np.float32(epsilon))


@functools.lru_cache(maxsize=None)
def worlds():
    """``((tiny data, inputs), (clean data, inputs))`` with inputs of one shape.

    tiny: 6 videos of the ``default`` UCF Sports world (small enough for the
    NumPy loops); clean: 12 videos (all 10 actions) of the ``clean`` world
    with 12 frames (``upt export`` with ``CLEAN_OPTS`` and the sweep's
    ``CLEAN_SPEC`` make the same world, so their inputs get this same shape).
    """
    clean = W.generate_world(W.make_world_config("ucf-sports", "clean", n_videos=12, n_frames=12))
    tiny = W.generate_world(W.make_world_config("ucf-sports", "default", n_videos=6, n_frames=9, max_persons=4,
                                                max_objects=3, seed=1))
    return (tiny, pad_like(tiny, D.to_inputs(clean))), (clean, D.to_inputs(clean))


def pad_like(data, like):
    """``to_inputs(data)`` padded to the shape of the inputs ``like``."""
    v, t, p, _ = like.person_boxes.shape
    x = D.to_inputs(data, n_videos=v, n_frames=t, max_persons=p, max_objects=like.object_boxes.shape[2])
    assert jax.tree_util.tree_map(np.shape, x) == jax.tree_util.tree_map(np.shape, like)
    return x


@pytest.fixture(scope="module")
def tiny():
    return worlds()[0]


@pytest.fixture(scope="module")
def clean():
    return worlds()[1]


def np_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def np_slerp(a, b, lam):
    om = np.arccos(np.clip(a @ b, -1, 1))
    if om < 1e-12:
        return a
    return (np.sin((1 - lam) * om) * a + np.sin(lam * om) * b) / np.sin(om)


def np_karcher(points, w, iters=500):
    """Weighted Frechet mean on the sphere by Riemannian gradient steps (float64)."""
    w = w / w.sum()
    t = points[np.argmax(w)]
    for _ in range(iters):
        c = np.clip(points @ t, -1, 1)
        th = np.arccos(c)
        f = np.where(th > 1e-12, th / np.maximum(np.sin(th), 1e-300), 1.0)
        g = (w * f) @ (points - np.outer(c, t))
        n = np.linalg.norm(g)
        if n < 1e-12:
            break
        t = np.cos(n) * t + np.sin(n) * g / n
        t /= np.linalg.norm(t)
    return t


def np_localize(data, top_n, lam, iou_w, max_dist, n_tubes, thresholds):
    """Steps 1-6 with loops over videos, actions, frames and boxes (float64)."""
    A = data.action_prototypes / np.linalg.norm(data.action_prototypes, axis=1, keepdims=True)
    O = data.object_prototypes / np.linalg.norm(data.object_prototypes, axis=1, keepdims=True)
    A, O = A.astype(np.float64), O.astype(np.float64)
    n_obj = len(O)
    # step 5 masses: mean over all test frames of the best class-o score in the frame
    mass, n_frames = np.zeros(n_obj), 0
    for v in data.videos:
        for t in range(v.n_frames):
            n_frames += 1
            rows = v.object_boxes[:, 0] == t
            for o in range(n_obj):
                s = v.object_scores[rows & (v.object_labels == o)]
                mass[o] += s.max() if len(s) else 0.0
    mass = mass / n_frames
    mass = mass / mass.sum()
    if lam > 0:
        cost = 1 - A @ O.T
        cost = cost / cost[:, mass > 0].max()
        plan = ot.emd(np.full(len(A), 1 / len(A)), mass, cost)
        A = np.stack([np_slerp(A[a], np_karcher(O, plan[a]), lam) for a in range(len(A))])
    cos = A @ O.T
    top = np.argsort(-cos, axis=1, kind="stable")[:, :top_n]
    wts = np.take_along_axis(cos, top, axis=1)
    n_a, n_v = len(A), len(data.videos)
    scores = np.full((n_v, n_a, n_tubes), -np.inf)
    tubes = []
    for i, v in enumerate(data.videos):
        frames = [t for t in range(v.n_frames) if np.any(v.person_boxes[:, 0] == t)]
        fb = [v.person_boxes[v.person_boxes[:, 0] == t, 1:] for t in frames]
        fs = [v.person_scores[v.person_boxes[:, 0] == t] for t in frames]
        per_action = []
        for a in range(n_a):
            box_s = []
            for t, b, s in zip(frames, fb, fs):
                r = v.object_boxes[:, 0] == t
                g = np_pair_g(b, np.ones(len(b), bool), v.object_boxes[r, 1:], v.object_labels[r], v.object_scores[r],
                              np.ones(int(r.sum()), bool), data.priors.astype(np.float64), max_dist, top[a:a + 1], wts[a:a + 1])
                box_s.append(s + g[:, 0])
            mod = [x.copy() for x in box_s]
            kt = []
            for k in range(n_tubes):
                delta, back = mod[0].copy(), []
                for f in range(1, len(frames)):
                    trans = np.array([[delta[p] + iou_w * np_iou(fb[f - 1][p], fb[f][q]) for q in range(len(fb[f]))]
                                      for p in range(len(fb[f - 1]))])
                    back.append(np.argmax(trans, axis=0))
                    delta = mod[f] + trans.max(axis=0)
                path = [int(np.argmax(delta))]
                for f in range(len(frames) - 1, 0, -1):
                    path.append(int(back[f - 1][path[-1]]))
                path = path[::-1]
                scores[i, a, k] = np.mean([box_s[f][c] for f, c in enumerate(path)])
                for f, c in enumerate(path):
                    mod[f][c] = 0.0
                full = -np.ones(v.n_frames, int)
                full[frames] = path
                kt.append(full)
            per_action.append(kt)
        tubes.append(per_action)
    labels = data.labels
    gmax = max(len(np.unique(v.gt_boxes[:, 0])) for v in data.videos)
    overlaps = np.zeros((n_v, n_tubes, gmax))
    gt_valid = np.zeros((n_v, gmax), bool)
    for i, v in enumerate(data.videos):
        ids = np.unique(v.gt_boxes[:, 0])
        gt_valid[i, : len(ids)] = True
        for gi, gid in enumerate(ids):
            rows = v.gt_boxes[(v.gt_boxes[:, 0] == gid) & np.all(v.gt_boxes[:, 2:] >= 0, axis=1)]
            gt = {int(r[1]): r[2:] for r in rows}
            for k in range(n_tubes):
                path = tubes[i][labels[i]][k]
                fp = {t for t in range(v.n_frames) if path[t] >= 0}
                both = fp & set(gt)
                if both:
                    pb = {t: v.person_boxes[v.person_boxes[:, 0] == t, 1:][path[t]] for t in fp}
                    overlaps[i, k, gi] = len(both) / len(fp | set(gt)) * np.mean([np_iou(pb[t], gt[t]) for t in both])
    ap = np_video_map(scores, overlaps, gt_valid, labels, thresholds)
    pred = np.argmax(scores.max(axis=2), axis=1)
    return {"tubes": tubes, "scores": scores, "ap": ap, "map": np.nanmean(ap, axis=1),
            "top1": 100 * np.mean(pred == labels), "mass": mass, "objects": top, "overlaps": overlaps}


def test_localize_equals_numpy_loops(tiny):
    """lam 0 and 0.5 in one vmapped call (vmap = loop: each equals the NumPy loops)."""
    data, x = tiny
    n_v = len(data.videos)  # the inputs are padded with masked videos
    t_max = x.person_boxes.shape[1]
    for r, lam in zip(loc(x, 0.5, iou_weight=0.8, max_dist=30.0), (0.0, 0.5)):
        ref = np_localize(data, 2, lam, 0.8, 30.0, 3, THR)
        np.testing.assert_allclose(r.object_mass, ref["mass"], rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(r.object_indices, ref["objects"])
        for i, v in enumerate(data.videos):
            np.testing.assert_array_equal(r.tubes[i, :, :, : v.n_frames], np.array(ref["tubes"][i]))
            assert np.all(r.tubes[i, :, :, v.n_frames:t_max] == -1)
        np.testing.assert_allclose(r.tube_scores[:n_v], ref["scores"], rtol=1e-5, atol=1e-5)
        assert np.all(np.isneginf(r.tube_scores[n_v:]))
        np.testing.assert_allclose(r.metrics.ap / 100, ref["ap"], atol=1e-5)
        np.testing.assert_allclose(r.metrics.map / 100, ref["map"], atol=1e-5)
        assert float(r.metrics.top1) == pytest.approx(ref["top1"])


def test_lam_zero_is_the_baseline_exactly(tiny, clean):
    """lam = 0 (the transport's program, the lam = 0 slot of the vmapped call
    that ``upt localize`` makes) = no transport at all: the same prototypes,
    objects, tubes, predictions and matches. Floats (scores, AP, top-1) may
    differ in the last bit only: under vmap the lam = 0 slot's cosines and
    sums are batched reductions."""
    for _, x in (tiny, clean):
        zero, moved = loc(x, 0.5, iou_weight=0.8, max_dist=30.0)  # compiled by the reference test already
        base, again = loc(x, 0.5, iou_weight=0.8, max_dist=30.0, config=CFG.replace(object_transport="none"))
        for field in ("prototypes", "object_indices", "object_mass", "tubes"):
            np.testing.assert_array_equal(getattr(zero, field), getattr(base, field))
        np.testing.assert_array_equal(zero.metrics.predictions, base.metrics.predictions)
        np.testing.assert_array_equal(zero.metrics.n_gt, base.metrics.n_gt)
        for field in ("object_weights", "tube_scores", "video_scores"):
            np.testing.assert_allclose(getattr(zero, field), getattr(base, field), rtol=3e-7, atol=0)
        for field in ("map", "ap", "top1", "best_st_iou"):  # percentages: sums of the same 0/1 matches
            np.testing.assert_allclose(getattr(zero.metrics, field), getattr(base.metrics, field), rtol=3e-7, atol=0)
        for a, c in zip(base.metrics, again.metrics):
            np.testing.assert_array_equal(a, c)  # no transport: lam does nothing
        assert float(np.max(np.abs(moved.prototypes - zero.prototypes))) > 1e-3  # UPT moved the prototypes


def test_grid_equals_numpy_loops_and_single_runs(tiny):
    """vmap = loop: every grid point equals localize() at that point (top-n = 2,
    the config's) and the NumPy loops (every n, including the traced prefix n = 1
    and the actor-only n = 0)."""
    data, x = tiny
    g = run_grid(x, grid_of(**GRID_POINTS))
    axes = [list(enumerate(GRID_POINTS[k])) for k in ("lam", "top_objects", "iou_weight", "max_dist")]
    n_loops = 0
    for (li, lam), (ni, n), (wi, w), (di, d) in itertools.product(*axes):
        at = (li, ni, wi, di)
        if n == CFG.top_objects:  # against a single run of localize (the compiled upt localize program)
            r = loc(x, lam, iou_weight=w, max_dist=d)[1]
            np.testing.assert_allclose(np.asarray(g.map[at]), r.metrics.map, atol=1e-4)
            np.testing.assert_allclose(np.asarray(g.ap[at]), r.metrics.ap, atol=1e-4)
            assert float(g.top1[at]) == pytest.approx(float(r.metrics.top1), rel=1e-6)
            np.testing.assert_array_equal(np.asarray(g.object_indices[li]), r.object_indices)
            np.testing.assert_allclose(np.asarray(g.prototypes[li]), r.prototypes, atol=1e-6)
        if (wi, di) == (0, 0) or (lam, n) == (0.5, 1):  # against the NumPy loops (a subset: they are slow)
            ref = np_localize(data, n, lam, w, d, 3, THR)
            np.testing.assert_allclose(np.asarray(g.ap[at]) / 100, ref["ap"], atol=1e-5)
            np.testing.assert_allclose(np.asarray(g.map[at]) / 100, ref["map"], atol=1e-5)
            assert float(g.top1[at]) == pytest.approx(ref["top1"])
            np.testing.assert_array_equal(np.asarray(g.object_indices[li, :, :n]), ref["objects"])
            n_loops += 1
    assert n_loops == 9
    np.testing.assert_allclose(np.asarray(g.object_mass), ref["mass"], rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(g.n_gt), np.bincount(data.labels, minlength=len(data.action_names)))
    # one transport for the whole grid: the same targets for every lam; lam = 0 does not move the prototypes
    d0, d1 = (jax.tree_util.tree_map(lambda a: a[i], g.diagnostics) for i in (0, 1))
    np.testing.assert_array_equal(d0.targets, d1.targets)
    assert np.all(d0.moved_angle < 1e-6) and np.all(d1.moved_angle > 1e-3)


def test_objects_help_over_actor_only_in_clean(clean):
    data, x = clean
    # the grid sizes of GRID_POINTS: no new compilation
    g = run_grid(x, grid_of(lam=(0.0, 0.5), top_objects=(0, 1, 2), iou_weight=(1.0, 2.0), max_dist=(25.0, 50.0)))
    m = np.asarray(g.map)
    actor, objs = m[0, 0, 0, 0], m[0, 2, 0, 0]
    assert objs.mean() > actor.mean() + 5.0
    assert float(g.top1[0, 2, 0, 0]) > float(g.top1[0, 0, 0, 0])
    # actor-only scores are the same for every action: every video is predicted as action 0, whatever lam
    np.testing.assert_allclose(np.asarray(g.top1[:, 0]), 100 * np.mean(data.labels == 0), rtol=1e-6)
    np.testing.assert_array_equal(m[0, 0], m[1, 0])


def test_check_inputs_names_the_problem(tiny):
    _, x = tiny
    with pytest.raises(UPTError, match="person_scores must have shape"):
        check_inputs(x._replace(person_scores=x.person_scores[:, :, :1]))
    with pytest.raises(UPTError, match=r"priors must be \[O, 9\]"):
        check_inputs(x._replace(priors=x.priors[:, :8]))
    with pytest.raises(UPTError, match="labels"):
        check_inputs(x._replace(labels=x.labels + 100))
    with pytest.raises(UPTError, match="hyper.lam"):
        check_inputs(x, LocalizationConfig(), LocalizationHyper(lam=1.5))
    with pytest.raises(UPTError, match="top_objects=81 exceeds"):
        check_inputs(x, LocalizationConfig(top_objects=81))
    with pytest.raises(UPTError, match="object_transport"):
        LocalizationConfig(object_transport="example")
    with pytest.raises(UPTError, match=r"top_objects must be integers in \[0, config.top_objects = 2\]"):
        localize_grid(x, CFG, grid_of(lam=(0.5,), top_objects=(3,), iou_weight=(1.0,), max_dist=(25.0,)))
    with pytest.raises(UPTError, match="LocalizationGrid.lam must lie in"):
        localize_grid(x, CFG, grid_of(lam=(1.5,), top_objects=(1,), iou_weight=(1.0,), max_dist=(25.0,)))


def test_batched_map_compiles_f_once_and_equals_vmap():
    from upt_jax.localization.pipeline import batched_map

    def f(x):
        return {"a": jnp.cos(x) * x + jnp.sum(x), "b": jnp.max(x)}

    xs = jnp.arange(21.0).reshape(7, 3)
    want = jax.jit(jax.vmap(f))(xs)
    for b in (3, 7, 10, 1):  # 7 % 3 != 0: the shifted last batch; >= n: one vmap
        run = jax.jit(lambda v, b=b: batched_map(f, v, b))
        assert run.lower(xs).as_text().count("cosine") == 1  # one copy of f in the program
        got = run(xs)
        for k in want:
            np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-6)
    # what it avoids: lax.map puts a second copy of f in the program for the remainder
    assert jax.jit(lambda v: jax.lax.map(f, v, batch_size=3)).lower(xs).as_text().count("cosine") == 2
