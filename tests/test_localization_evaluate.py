"""ST-IoU, AP and video-mAP against hand-computed cases and NumPy loops
(greedy matching over the pooled, sorted detections; VOC 2010+ AP)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax.localization import evaluate as E

pytestmark = pytest.mark.fast


def test_st_iou_partial_temporal_overlap():
    t = 6
    box = np.array([0.0, 0.0, 10.0, 10.0])
    tube = np.tile(box, (t, 1))
    gt = np.tile(box, (t, 1))
    tm = np.array([1, 1, 1, 1, 0, 0], bool)  # frames 0-3
    gm = np.array([0, 0, 1, 1, 1, 1], bool)  # frames 2-5
    assert float(E.st_iou(tube, tm, gt, gm)) == pytest.approx(2 / 6)
    gt_shift = gt + np.array([5.0, 0.0, 5.0, 0.0])  # IoU 1/3 in every frame
    assert float(E.st_iou(tube, tm, gt_shift, gm)) == pytest.approx(2 / 6 * 1 / 3)
    assert float(E.st_iou(tube, np.array([1, 1, 0, 0, 0, 0], bool), gt, gm)) == 0.0  # frame sets do not meet


def voc_ap(tp_sorted, n_gt):
    """PASCAL VOC 2010+ AP, literally: precision made monotone, summed over recall steps."""
    tp = np.asarray(tp_sorted, float)
    fp = 1 - tp
    ctp, cfp = np.cumsum(tp), np.cumsum(fp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, np.finfo(float).eps)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


N_DETS = 30  # one padded list length for the jitted AP: one compilation
AP = jax.jit(E.average_precision)


def padded(scores, tp, valid=None):
    """Detections padded to N_DETS with invalid entries (they must change nothing)."""
    n = len(scores)
    s = np.zeros(N_DETS, np.float32)
    s[:n] = scores
    s[n:] = 9.0  # high scores: first in line if they were not ignored
    t = np.zeros(N_DETS, bool)
    t[:n] = tp
    v = np.zeros(N_DETS, bool)
    v[:n] = True if valid is None else valid
    return s, t, v


def test_ap_by_hand_with_a_missed_ground_truth():
    # 3 ground-truth tubes, detections TP (0.9), FP (0.8), TP (0.7): one ground truth is never found
    ap = E.average_precision(jnp.array([0.7, 0.9, 0.8]), jnp.array([True, True, False]), jnp.ones(3, bool), 3)  # no jit
    assert float(ap) == pytest.approx((1.0 + 2 / 3) / 3)
    assert voc_ap([1, 0, 1], 3) == pytest.approx((1.0 + 2 / 3) / 3)
    # invalid (padded) detections are ignored, with jit too; no ground truth gives NaN
    assert float(AP(*padded([0.7, 0.9, 0.8, 5.0], [True, True, False, True], [True, True, True, False]), 3)) == (
        pytest.approx(float(ap)))
    assert np.isnan(float(AP(*padded([0.5], [False]), 0)))


def test_ap_random_against_voc_formula():
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = N_DETS
        s = rng.random(n).round(2)  # ties: the original order decides
        tp = rng.random(n) < 0.4
        n_gt = int(tp.sum()) + 3
        order = np.argsort(-s, kind="stable")
        assert float(AP(s.astype(np.float32), tp, np.ones(n, bool), n_gt)) == pytest.approx(voc_ap(tp[order], n_gt), abs=1e-6)


def np_video_map(scores, overlaps, gt_valid, labels, thresholds):
    """Pooled greedy matching per class (sorted by score, ties by video then tube order)."""
    v, a, k = scores.shape
    out = np.zeros((len(thresholds), a))
    for di, delta in enumerate(thresholds):
        for c in range(a):
            n_gt = sum(int(gt_valid[i].sum()) for i in range(v) if labels[i] == c)
            dets = [(scores[i, c, j], i, j) for i in range(v) for j in range(k)]
            dets = sorted(range(len(dets)), key=lambda n: -dets[n][0])  # stable: video, then tube order
            flat = [(scores[i, c, j], i, j) for i in range(v) for j in range(k)]
            matched = np.zeros(gt_valid.shape, bool)
            tp = []
            for n in dets:
                _, i, j = flat[n]
                hit = False
                if labels[i] == c:
                    cand = [(overlaps[i, j, g], -g) for g in range(gt_valid.shape[1]) if gt_valid[i, g] and not matched[i, g]]
                    if cand:
                        ov, g = max(cand)
                        if ov >= delta:
                            matched[i, -g] = True
                            hit = True
                tp.append(hit)
            out[di, c] = np.nan if n_gt == 0 else voc_ap(tp, n_gt)
    return out


def test_video_map_equals_pooled_greedy_loop():
    rng = np.random.default_rng(5)
    v, a, k, g = 9, 4, 3, 2
    scores = rng.random((v, a, k)).round(1).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1])  # class 3 has no ground truth
    overlaps = rng.random((v, k, g)).astype(np.float32)
    gt_valid = rng.random((v, g)) > 0.3
    thr = (0.1, 0.3, 0.5, 0.7)
    m, ap, n_gt = jax.jit(E.video_map, static_argnums=5)(scores, overlaps, gt_valid, labels, np.ones(v, bool), thr)
    ref = np_video_map(scores, overlaps, gt_valid, labels, thr)
    np.testing.assert_allclose(np.asarray(ap) / 100, ref, atol=1e-6)
    np.testing.assert_allclose(np.asarray(m) / 100, np.nanmean(ref, axis=1), atol=1e-6)
    assert np.asarray(n_gt).tolist() == [int(gt_valid[labels == c].sum()) for c in range(a)]


def test_classification_top1_ties_go_to_lower_index():
    pred, top1 = E.classification_top1(jnp.array([[1.0, 1.0], [0.0, 2.0], [3.0, 1.0]]), jnp.array([0, 1, 1]), jnp.array([True, True, False]))
    assert np.asarray(pred).tolist() == [0, 1, 0] and float(top1) == pytest.approx(100.0)
