"""The whole method (steps 1-6) against a NumPy loop implementation written
here; lam = 0 equals the baseline exactly; jit = no-jit; vmap = loop; the
robust facts of the simulated worlds."""

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

from tests.test_localization_boxes import np_pair_g
from tests.test_localization_evaluate import np_video_map
from upt_jax.errors import UPTError
from upt_jax.localization import LocalizationConfig, LocalizationHyper, check_inputs, localize, make_localize
from upt_jax.localization.pipeline import video_tubes
from upt_jax.localization import data as D
from upt_jax.localization import world as W

THR = (0.1, 0.3, 0.5, 0.8)
CFG = LocalizationConfig(top_objects=2, tubes=3, thresholds=THR, solver="emd", video_batch=4)
LOC = jax.jit(localize, static_argnames="config")  # one function object: compilations are shared between tests


@pytest.fixture(scope="module")
def tiny():
    cfg = W.make_world_config("ucf-sports", "default", n_videos=6, n_frames=9, max_persons=4, max_objects=6, seed=1)
    data = W.generate_world(cfg)
    return data, D.to_inputs(data)


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


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_localize_equals_numpy_loops(tiny, lam):
    data, x = tiny
    r = LOC(x, CFG, LocalizationHyper(lam=lam, iou_weight=0.8, max_dist=30.0))
    ref = np_localize(data, 2, lam, 0.8, 30.0, 3, THR)
    np.testing.assert_allclose(np.asarray(r.object_mass), ref["mass"], rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(r.object_indices), ref["objects"])
    t_max = x.person_boxes.shape[1]
    got_tubes = np.asarray(r.tubes)
    for i, v in enumerate(data.videos):
        np.testing.assert_array_equal(got_tubes[i, :, :, : v.n_frames], np.array(ref["tubes"][i]))
        assert np.all(got_tubes[i, :, :, v.n_frames:t_max] == -1)
    np.testing.assert_allclose(np.asarray(r.tube_scores), ref["scores"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(r.metrics.ap) / 100, ref["ap"], atol=1e-5)
    np.testing.assert_allclose(np.asarray(r.metrics.map) / 100, ref["map"], atol=1e-5)
    assert float(r.metrics.top1) == pytest.approx(ref["top1"])


def test_lam_zero_is_the_baseline_exactly(tiny):
    _, x = tiny
    hp = LocalizationHyper(lam=0.0, iou_weight=0.8, max_dist=30.0)
    zero = LOC(x, CFG, hp)  # compiled by the reference test already
    base = LOC(x, CFG.replace(object_transport="none"), hp)
    for field in ("prototypes", "object_indices", "object_weights", "object_mass", "tubes", "tube_scores", "video_scores"):
        np.testing.assert_array_equal(np.asarray(getattr(zero, field)), np.asarray(getattr(base, field)))
    for a, b in zip(zero.metrics, base.metrics):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    moved = LOC(x, CFG, hp._replace(lam=0.5))
    assert float(jnp.max(jnp.abs(moved.prototypes - zero.prototypes))) > 1e-3  # UPT moved the prototypes


def test_jit_equals_nojit_and_vmap_equals_loop(tiny):
    _, x = tiny
    cfg = CFG.replace(object_transport="none")
    ws = [0.0, 0.8, 2.0]
    axes = LocalizationHyper(lam=None, iou_weight=0, max_dist=None, epsilon=None, threshold=None)
    hp = LocalizationHyper(lam=0.0, iou_weight=jnp.asarray(ws, jnp.float32), max_dist=30.0)
    batched = jax.jit(jax.vmap(make_localize(cfg), in_axes=(None, axes)))(x, hp)
    for i, w in enumerate(ws):
        one = LOC(x, cfg, hp._replace(iou_weight=w))
        np.testing.assert_array_equal(np.asarray(one.tubes), np.asarray(batched.tubes[i]))
        np.testing.assert_allclose(np.asarray(one.tube_scores), np.asarray(batched.tube_scores[i]), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(one.metrics.map), np.asarray(batched.metrics.map[i]), atol=1e-4)
    # scoring + linking of one video, without and with jit
    from upt_jax.localization import scoring

    _, _, dense = scoring.object_weights(jnp.asarray(x.prototypes), jnp.asarray(x.object_prototypes), 2)
    video = tuple(jnp.asarray(getattr(x, k)[1]) for k in ("person_boxes", "person_scores", "person_mask", "object_boxes",
                                                          "object_labels", "object_scores", "object_mask"))
    f = lambda v, w: video_tubes(v, dense, jnp.asarray(x.priors), CFG, w, 30.0)  # noqa: E731
    eager, jitted = f(video, 0.8), jax.jit(f)(video, 0.8)
    np.testing.assert_array_equal(np.asarray(eager[0]), np.asarray(jitted[0]))
    np.testing.assert_allclose(np.asarray(eager[1]), np.asarray(jitted[1]), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(batched.tubes[1][1]))


def test_objects_help_over_actor_only_in_clean():
    data = W.generate_world(W.make_world_config("ucf-sports", "clean", n_frames=12))
    x = D.to_inputs(data)
    cfg = LocalizationConfig(object_transport="none", tubes=2)
    objs = LOC(x, cfg, LocalizationHyper())
    actor = LOC(x, cfg.replace(top_objects=0), LocalizationHyper())
    assert float(jnp.mean(objs.metrics.map)) > float(jnp.mean(actor.metrics.map)) + 5.0
    assert float(objs.metrics.top1) > float(actor.metrics.top1)
    # actor-only scores are the same for every action: every video is predicted as action 0
    assert np.all(np.asarray(actor.metrics.predictions) == 0)


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
