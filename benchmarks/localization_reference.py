"""A straightforward NumPy reference of zero-shot localization (steps 1-4, 6),
written the way the ICCV 2017 code is: Python loops over actions, videos,
frames and boxes, one frame's boxes at a time (only the innermost search over
one frame's object boxes uses NumPy vector operations). Used by
``benchmarks/localization.py`` for speed and to check identical results.
"""

from __future__ import annotations

import numpy as np

__all__ = ["objects_per_action", "frame_box_scores", "link_tubes", "video_map", "reference"]


def objects_per_action(action_protos, object_protos, top_n):
    a = action_protos / np.linalg.norm(action_protos, axis=1, keepdims=True)
    o = object_protos / np.linalg.norm(object_protos, axis=1, keepdims=True)
    cos = (a.astype(np.float32) @ o.astype(np.float32).T)
    top = np.argsort(-cos, axis=1, kind="stable")[:, :top_n]
    return top, np.take_along_axis(cos, top, axis=1)


def _tiles(p, b):
    xs = ((-np.inf, p[0]), (p[0], p[2]), (p[2], np.inf))
    ys = ((-np.inf, p[1]), (p[1], p[3]), (p[3], np.inf))
    d = np.zeros(9)
    for r, (y0, y1) in enumerate(ys):
        for c, (x0, x1) in enumerate(xs):
            d[3 * r + c] = max(0.0, min(b[2], x1) - max(b[0], x0)) * max(0.0, min(b[3], y1) - max(b[1], y0))
    return d / ((b[2] - b[0]) * (b[3] - b[1]))


def _jsd(p, q):
    m = 0.5 * (p + q)
    out = 0.0
    for x in (p, q):
        nz = x > 0
        out += 0.5 * float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))
    return out


def frame_box_scores(pboxes, pscores, oboxes, olabels, oscores, objects, weights, priors, max_dist):
    """Box scores of one frame for one action: loops over person boxes and objects."""
    out = pscores.astype(np.float64).copy()
    for i in range(len(pboxes)):
        p = pboxes[i]
        for o, w in zip(objects, weights):
            cls = np.flatnonzero(olabels == o)
            if not len(cls):
                continue
            b = oboxes[cls]
            dx = np.maximum(np.maximum(b[:, 0] - p[2], p[0] - b[:, 2]), 0.0)
            dy = np.maximum(np.maximum(b[:, 1] - p[3], p[1] - b[:, 3]), 0.0)
            ok = np.sqrt(dx * dx + dy * dy) <= max_dist
            if not ok.any():
                continue
            s = np.where(ok, oscores[cls], -np.inf)
            j = int(np.argmax(s))  # first maximum: the lower box index
            out[i] += w * oscores[cls[j]] * (1.0 - _jsd(priors[o], _tiles(p, b[j])))
    return out


def _iou_row(a, bs):
    iw = np.maximum(np.minimum(a[2], bs[:, 2]) - np.maximum(a[0], bs[:, 0]), 0.0)
    ih = np.maximum(np.minimum(a[3], bs[:, 3]) - np.maximum(a[1], bs[:, 1]), 0.0)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (bs[:, 2] - bs[:, 0]) * (bs[:, 3] - bs[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def link_tubes(fboxes, fscores, iou_weight, n_tubes):
    """K tubes over the frames with boxes (forward Viterbi, loops over frames and boxes)."""
    mod = [s.copy() for s in fscores]
    tubes = []
    for _ in range(n_tubes):
        delta = mod[0].copy()
        back = []
        for f in range(1, len(fboxes)):
            new = np.empty(len(fboxes[f]))
            bp = np.empty(len(fboxes[f]), int)
            for q in range(len(fboxes[f])):
                cand = delta + iou_weight * _iou_row(fboxes[f][q], fboxes[f - 1])
                bp[q] = int(np.argmax(cand))
                new[q] = mod[f][q] + cand[bp[q]]
            back.append(bp)
            delta = new
        path = [int(np.argmax(delta))]
        for f in range(len(fboxes) - 1, 0, -1):
            path.append(int(back[f - 1][path[-1]]))
        path = path[::-1]
        score = float(np.mean([fscores[f][c] for f, c in enumerate(path)]))
        for f, c in enumerate(path):
            mod[f][c] = 0.0
        tubes.append((path, score))
    return tubes


def _st_iou(frames, boxes, gt):
    fp = dict(zip(frames, boxes))
    both = [t for t in fp if t in gt]
    if not both:
        return 0.0
    ious = [float(_iou_row(fp[t], gt[t][None])[0]) for t in both]
    return len(both) / len(set(fp) | set(gt)) * float(np.mean(ious))


def _voc_ap(tp, n_gt):
    tp = np.asarray(tp, float)
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, np.finfo(float).eps)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def video_map(dets, gts, labels, n_actions, thresholds):
    """dets[v][a] = list of (frames, boxes, score); gts[v] = list of {frame: box}."""
    out = np.full((len(thresholds), n_actions), np.nan)
    for di, delta in enumerate(thresholds):
        for c in range(n_actions):
            n_gt = sum(len(gts[v]) for v in range(len(gts)) if labels[v] == c)
            if n_gt == 0:
                continue
            pool = [(dets[v][c][k][2], v, k) for v in range(len(dets)) for k in range(len(dets[v][c]))]
            order = sorted(range(len(pool)), key=lambda n: -pool[n][0])
            matched = [np.zeros(len(g), bool) for g in gts]
            tp = []
            for n in order:
                _, v, k = pool[n]
                hit = False
                if labels[v] == c:
                    frames, boxes, _ = dets[v][c][k]
                    best, bg = -1.0, -1
                    for g, gt in enumerate(gts[v]):
                        if not matched[v][g]:
                            ov = _st_iou(frames, boxes, gt)
                            if ov > best:
                                best, bg = ov, g
                    if bg >= 0 and best >= delta:
                        matched[v][bg] = True
                        hit = True
                tp.append(hit)
            out[di, c] = _voc_ap(tp, n_gt)
    return out


def reference(data, *, top_n=1, n_tubes=5, iou_weight=1.0, max_dist=25.0, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
              progress=None):
    """Steps 1-4 and 6 on a LocalizationData (original prototypes, no UPT).

    Returns:
      dict with ``ap [D, A]``, ``map [D]`` (percent), ``top1`` (percent) and
      ``tube_scores [V, A, K]``.
    """
    objs, wts = objects_per_action(data.action_prototypes, data.object_prototypes, top_n)
    priors = np.asarray(data.priors, np.float64)
    n_a = len(data.action_names)
    dets, gts, scores = [], [], np.full((len(data.videos), n_a, n_tubes), -np.inf)
    for vi, v in enumerate(data.videos):
        frames = [t for t in range(v.n_frames) if np.any(v.person_boxes[:, 0] == t)]
        fb = [v.person_boxes[v.person_boxes[:, 0] == t, 1:].astype(np.float64) for t in frames]
        fs = [v.person_scores[v.person_boxes[:, 0] == t] for t in frames]
        fo = [(v.object_boxes[v.object_boxes[:, 0] == t, 1:].astype(np.float64), v.object_labels[v.object_boxes[:, 0] == t],
               v.object_scores[v.object_boxes[:, 0] == t].astype(np.float64)) for t in frames]
        per_action = []
        for a in range(n_a):
            bs = [frame_box_scores(b, s, *o, objs[a], wts[a].astype(np.float64), priors, max_dist) for b, s, o in zip(fb, fs, fo)]
            tubes = link_tubes(fb, bs, iou_weight, n_tubes)
            per_action.append([(frames, [fb[f][c] for f, c in enumerate(path)], sc) for path, sc in tubes])
            scores[vi, a] = [sc for _, sc in tubes]
        dets.append(per_action)
        g = []
        for gid in np.unique(v.gt_boxes[:, 0]):
            rows = v.gt_boxes[(v.gt_boxes[:, 0] == gid) & np.all(v.gt_boxes[:, 2:] >= 0, axis=1)]
            g.append({int(r[1]): r[2:].astype(np.float64) for r in rows})
        gts.append(g)
        if progress is not None:
            progress(vi)
    labels = data.labels
    ap = video_map(dets, gts, labels, n_a, thresholds)
    pred = np.argmax(scores.max(axis=2), axis=1)
    return {"ap": 100 * ap, "map": 100 * np.nanmean(ap, axis=1), "top1": 100 * float(np.mean(pred == labels)), "tube_scores": scores}
