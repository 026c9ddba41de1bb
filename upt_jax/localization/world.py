"""Simulated localization worlds: real names and priors, simulated videos.

REAL: the action names and test lists of UCF Sports (10 actions, 47 test
videos), J-HMDB split 1 (21, 268) and UCF-101-24 split 1 (24, 914) as
published with the ICCV 2017 code; the 80 MS-COCO class names; the MS-COCO
spatial priors measured by the ICCV 2017 authors; text-encoder prototypes of
all names (all-MiniLM-L6-v2, shipped in ``upt_jax/assets/``).

SIMULATED (NumPy, seeded), per video of action ``c``:

* frames and size close to the real data set's (UCF Sports about 60 frames
  at 720 x 404, J-HMDB about 35 at 320 x 240, UCF-101-24 about 180 at
  320 x 240; ``n_frames``/``stride`` make them shorter for tests);
* the actor: a smooth track (drifting centre, slowly breathing size); the
  ground truth is that track over the annotated frames (UCF-101-24: a
  sub-interval, sometimes a second actor; the others: the whole video);
* distractor persons with their own smooth tracks, scored like the actor by
  the person detector (so the person score alone cannot find the actor);
* the action's TRUE objects, placed around the actor in a tile drawn from
  the object's real spatial prior, moving with the actor; objects of other
  actions near distractors (confusers); objects present everywhere (chairs,
  cars, benches, ...) at random places;
* detector noise: jittered boxes, missed detections, false positives of
  random classes, noisy scores; at most ``max_persons`` / ``max_objects``
  boxes per frame (the highest scoring).

Which objects truly go with an action is only PARTLY what the text encoder
says: with probability ``agreement`` an action's main object is the
encoder's nearest object, otherwise one of its next ``semantic_pool``
nearest, and its second object (if any) is random. For many actions the
encoder's top object therefore never appears with them (it is detected only
as a rare false positive); moving the prototypes toward the objects that the
test set actually contains is what UPT for localization does.

Presets (:data:`PRESETS`):

* ``clean``: exact boxes, no misses or false positives, true objects in every
  frame; distractors present. Shows the mechanism: objects find the actor
  among distractors and tell actions apart.
* ``default``: moderate noise everywhere (the regime of the README tables).
* ``hard``: heavy noise, more distractors and confusers, objects often absent.

Like the classification worlds, these reproduce a mechanism, not the
paper's numbers: the size of any gain here says nothing about real videos.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from typing import Any

import numpy as np

from upt_jax.errors import UPTError
from upt_jax.localization.data import LocalizationData, LocVideo

__all__ = [
    "DATASETS",
    "PRESETS",
    "BACKGROUND_OBJECTS",
    "LocWorldConfig",
    "make_world_config",
    "load_assets",
    "true_objects",
    "generate_world",
]

#: Data set key -> (frames, width, height, ground truth covers the whole video, share of videos with 2 actors).
DATASETS: dict[str, tuple[int, int, int, bool, float]] = {
    "ucf-sports": (60, 720, 404, True, 0.0),
    "jhmdb": (35, 320, 240, True, 0.0),
    "ucf101-24": (180, 320, 240, False, 0.1),
}

#: Objects that appear in videos of every action (the scene, not the action).
BACKGROUND_OBJECTS = ("chair", "car", "bench", "bottle", "potted plant", "tv", "backpack", "handbag", "dining table", "truck")

PRESETS: dict[str, dict[str, Any]] = {
    "clean": dict(
        person_jitter=0.0, person_miss=0.0, false_persons=0.0, distractors=2.0, object_jitter=0.0,
        object_miss=0.0, object_video=1.0, false_objects=0.0, confusers=0.0, background_per_video=1,
        score_noise=0.05, agreement=0.5,
    ),
    "default": dict(
        person_jitter=0.04, person_miss=0.1, false_persons=1.0, distractors=2.0, object_jitter=0.06,
        object_miss=0.2, object_video=0.85, false_objects=4.0, confusers=0.3, background_per_video=2,
        score_noise=0.1, agreement=0.5,
    ),
    "hard": dict(
        person_jitter=0.08, person_miss=0.25, false_persons=3.0, distractors=3.0, object_jitter=0.12,
        object_miss=0.4, object_video=0.6, false_objects=10.0, confusers=0.6, background_per_video=3,
        score_noise=0.15, agreement=0.35,
    ),
}


@dataclasses.dataclass(frozen=True)
class LocWorldConfig:
    """Everything a simulated localization world depends on.

    Attributes:
      dataset: ``"ucf-sports"``, ``"jhmdb"`` or ``"ucf101-24"``.
      preset: the preset the noise values came from (informational).
      seed: NumPy seed.
      n_videos: test videos (default: the real test list; fewer = an evenly
        spread subset of it).
      n_frames: mean frames per video (default: the data set's); lengths vary
        by +-25 %.
      stride: keep every ``stride``-th frame (shorter videos, same motion).
      max_persons, max_objects: detections kept per frame.
      person_jitter, object_jitter: box noise (fraction of the box size).
      person_miss, object_miss: per-frame miss probabilities.
      false_persons, false_objects: mean false positives per frame.
      distractors: mean distractor persons per video.
      object_video: probability that a true object appears in a video.
      confusers: probability that a video shows another action's object
        near a distractor.
      background_per_video: background objects per video.
      background_rate: share of frames in which a background object shows.
      score_noise: standard deviation of detection score noise.
      agreement: probability that an action's main object is the encoder's
        nearest object.
      semantic_pool: otherwise the main object is one of the next this many.
      second_object: probability that an action has a second (random) object.
    """

    dataset: str = "ucf-sports"
    preset: str = "default"
    seed: int = 0
    n_videos: int | None = None
    n_frames: int | None = None
    stride: int = 1
    max_persons: int = 10
    max_objects: int = 30
    person_jitter: float = 0.04
    person_miss: float = 0.1
    false_persons: float = 1.0
    distractors: float = 2.0
    object_jitter: float = 0.06
    object_miss: float = 0.2
    object_video: float = 0.85
    false_objects: float = 4.0
    confusers: float = 0.3
    background_per_video: int = 3
    background_rate: float = 0.6
    score_noise: float = 0.1
    agreement: float = 0.5
    semantic_pool: int = 3
    second_object: float = 0.5

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise UPTError(f"LocWorldConfig.dataset must be one of {sorted(DATASETS)}, got {self.dataset!r}")
        if self.stride < 1 or self.max_persons < 1 or self.max_objects < 1:
            raise UPTError("LocWorldConfig: stride, max_persons and max_objects must be >= 1")
        if self.n_videos is not None and self.n_videos < 1:
            raise UPTError(f"LocWorldConfig.n_videos must be >= 1, got {self.n_videos}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_world_config(dataset: str = "ucf-sports", preset: str = "default", **overrides) -> LocWorldConfig:
    """A :class:`LocWorldConfig` from a preset plus overrides."""
    if preset not in PRESETS:
        raise UPTError(f"preset={preset!r}; choose one of {sorted(PRESETS)}")
    return LocWorldConfig(dataset=dataset, preset=preset, **{**PRESETS[preset], **overrides})


def _asset(name: str):
    return importlib.resources.files("upt_jax").joinpath("assets", name)


def load_assets(dataset: str) -> dict:
    """The real parts of a world: names, test list, prototypes, priors.

    Returns:
      dict with ``action_names`` [A], ``test_videos`` [V], ``action_prototypes``
      ``[A, 384]``, ``object_names`` [80], ``object_prototypes`` ``[80, 384]``,
      ``priors`` ``[80, 9]`` and the ``source`` strings of the JSON assets.
    """
    if dataset not in DATASETS:
        raise UPTError(f"dataset={dataset!r}; choose one of {sorted(DATASETS)}")
    ds = json.loads(_asset("localization_datasets.json").read_text(encoding="utf-8"))
    pr = json.loads(_asset("coco_spatial_priors.json").read_text(encoding="utf-8"))
    entry = ds["datasets"][dataset]
    with _asset(f"loc_{dataset}_prototypes.npy").open("rb") as f:
        aprotos = np.load(f)
    with _asset("coco80_prototypes.npy").open("rb") as f:
        oprotos = np.load(f)
    priors = np.asarray([pr["priors"][c] for c in pr["classes"]], np.float64)
    priors = priors / priors.sum(axis=1, keepdims=True)
    return {
        "action_names": list(entry["actions"]),
        "test_videos": list(entry["test_videos"]),
        "action_prototypes": np.asarray(aprotos, np.float32),
        "object_names": list(pr["classes"]),
        "object_prototypes": np.asarray(oprotos, np.float32),
        "priors": priors.astype(np.float32),
        "sources": {"datasets": ds["source"], "priors": pr["source"]},
    }


def true_objects(assets: dict, cfg: LocWorldConfig) -> list[list[int]]:
    """Each action's true objects (indices into the 80 classes; never person
    or a background object), drawn as described in the module docstring."""
    rng = np.random.default_rng([cfg.seed, 7])
    names = assets["object_names"]
    banned = {0} | {names.index(n) for n in BACKGROUND_OBJECTS}
    sim = assets["action_prototypes"] @ assets["object_prototypes"].T
    out = []
    for row in sim:
        ranked = [int(i) for i in np.argsort(-row, kind="stable") if int(i) not in banned]
        if rng.random() < cfg.agreement:
            main = ranked[0]
        else:
            main = ranked[1 + int(rng.integers(cfg.semantic_pool))]
        objs = [main]
        if rng.random() < cfg.second_object:
            pool = [i for i in range(len(names)) if i not in banned and i != main]
            objs.append(int(rng.choice(pool)))
        out.append(objs)
    return out


def _smooth_track(rng, t: int, w: int, h: int, scale: float):
    """``[t, 4]`` boxes of a person moving smoothly inside a ``w x h`` frame."""
    bh = h * rng.uniform(0.4, 0.7) * scale
    bw = bh * rng.uniform(0.35, 0.5)
    steps = rng.normal(0.0, 1.0, size=(t, 2))
    kernel = np.ones(min(9, t)) / min(9, t)
    vel = np.stack([np.convolve(steps[:, i], kernel, mode="same") for i in range(2)], axis=1)
    vel += rng.normal(0.0, 0.6, size=(1, 2))
    path = np.cumsum(vel * np.array([w, h]) * 0.004, axis=0)
    c0 = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.35, 0.65) * h])
    centre = c0 + path - path.mean(axis=0) * 0.5
    breathe = 1.0 + 0.08 * np.sin(np.linspace(0, rng.uniform(1, 4) * np.pi, t) + rng.uniform(0, np.pi))
    half = np.stack([bw * breathe, bh * breathe], axis=1) / 2
    centre = np.clip(centre, half, np.array([w, h]) - half)
    return np.concatenate([centre - half, centre + half], axis=1)


def _place_object(rng, actor: np.ndarray, tile: int, size: float):
    """``[t, 4]`` object boxes in ``tile`` around the actor boxes ``[t, 4]``."""
    aw = actor[:, 2] - actor[:, 0]
    ah = actor[:, 3] - actor[:, 1]
    ow, oh = size * ah.mean() * rng.uniform(0.6, 1.4), size * ah.mean() * rng.uniform(0.6, 1.4)
    row, col = divmod(tile, 3)
    gap = rng.uniform(0.0, 8.0)
    fx = rng.uniform(0.2, 0.8)
    fy = rng.uniform(0.2, 0.8)
    x = [actor[:, 0] - gap - ow, actor[:, 0] + fx * aw - ow / 2, actor[:, 2] + gap][col]
    y = [actor[:, 1] - gap - oh, actor[:, 1] + fy * ah - oh / 2, actor[:, 3] + gap][row]
    x = np.broadcast_to(x, aw.shape)
    y = np.broadcast_to(y, ah.shape)
    return np.stack([x, y, x + ow, y + oh], axis=1)


def _jitter(rng, boxes: np.ndarray, amount: float):
    if amount <= 0:
        return boxes.copy()
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    return boxes + rng.normal(0.0, amount, size=boxes.shape) * size


def _clip(boxes, w, h):
    b = boxes.copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
    ok = (b[:, 2] - b[:, 0] >= 2) & (b[:, 3] - b[:, 1] >= 2)
    return b, ok


def _random_boxes(rng, n: int, w: int, h: int, lo: float, hi: float):
    bh = h * rng.uniform(lo, hi, size=n)
    bw = bh * rng.uniform(0.4, 1.2, size=n)
    x = rng.uniform(0, w - bw)
    y = rng.uniform(0, h - bh)
    return np.stack([x, y, x + bw, y + bh], axis=1)


def _cap(frames, boxes, scores, extra, t, k):
    """Keep at most k highest-scoring rows per frame (file order otherwise)."""
    keep = np.zeros(len(frames), bool)
    order = np.lexsort((-scores, frames))
    f = frames[order]
    starts = np.searchsorted(f, f, side="left")
    keep[order[(np.arange(len(f)) - starts) < k]] = True
    sel = np.flatnonzero(keep)
    return frames[sel], boxes[sel], scores[sel], None if extra is None else extra[sel]


def _subset(names: list[str], n: int | None) -> list[int]:
    if n is None or n >= len(names):
        return list(range(len(names)))
    return [int(i) for i in np.unique(np.linspace(0, len(names) - 1, n).round().astype(int))]


def generate_world(cfg: LocWorldConfig, *, progress: bool = False) -> LocalizationData:
    """Generate a simulated test set (see the module docstring).

    Args:
      cfg: :class:`LocWorldConfig` (e.g. from :func:`make_world_config`).
      progress: show a tqdm bar over videos.

    Returns:
      :class:`upt_jax.localization.data.LocalizationData` with the world's
      configuration, true objects and sources in ``meta``.
    """
    assets = load_assets(cfg.dataset)
    frames0, width, height, whole, multi = DATASETS[cfg.dataset]
    mean_t = cfg.n_frames or frames0
    actions = assets["action_names"]
    index = {a: i for i, a in enumerate(actions)}
    o_names = assets["object_names"]
    truth = true_objects(assets, cfg)
    background = [o_names.index(n) for n in BACKGROUND_OBJECTS]
    priors = assets["priors"].astype(np.float64)
    priors = priors / priors.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(cfg.seed)
    picks = _subset(assets["test_videos"], cfg.n_videos)
    it = picks
    if progress:
        from tqdm import tqdm

        it = tqdm(picks, desc=f"simulating {cfg.dataset} videos", unit="video")
    videos = []
    n_obj = len(o_names)
    for vi in it:
        name = assets["test_videos"][vi]
        label = index[name.split("/")[0]]
        t_full = max(8, int(round(mean_t * rng.uniform(0.75, 1.25))))
        t = len(range(0, t_full, cfg.stride))
        sub = np.arange(0, t_full, cfg.stride)

        def track(scale=1.0):
            return _smooth_track(rng, t_full, width, height, scale)[sub]

        actors = [track()]
        if rng.random() < multi:
            actors.append(track())
        n_d = int(rng.poisson(cfg.distractors))
        distractors = [track(rng.uniform(0.7, 1.1)) for _ in range(n_d)]
        # ground truth
        if whole:
            g0, g1 = 0, t
        else:
            span = max(4, int(round(t * rng.uniform(0.6, 1.0))))
            g0 = int(rng.integers(0, t - span + 1))
            g1 = g0 + span
        gt_rows = []
        for k, a in enumerate(actors):
            fr = np.arange(g0, g1)
            gt_rows.append(np.concatenate([np.full((len(fr), 1), k), fr[:, None], a[g0:g1]], axis=1))
        gt = np.concatenate(gt_rows)
        # person detections: every true person, then false positives
        pf, pbx, psc = [], [], []
        for pers in actors + distractors:
            base = rng.beta(12, 1.5)
            det = rng.random(t) >= cfg.person_miss
            b, ok = _clip(_jitter(rng, pers, cfg.person_jitter), width, height)
            det &= ok
            sc = np.clip(base + rng.normal(0, cfg.score_noise, t), 0.05, 1.0)
            pf.append(np.flatnonzero(det))
            pbx.append(b[det])
            psc.append(sc[det])
        n_fp = rng.poisson(cfg.false_persons, size=t)
        if n_fp.sum():
            fr = np.repeat(np.arange(t), n_fp)
            b = _random_boxes(rng, len(fr), width, height, 0.3, 0.7)
            pf.append(fr)
            pbx.append(b)
            psc.append(np.clip(rng.beta(2, 5, size=len(fr)), 0.05, 1.0))
        pf, pbx, psc = np.concatenate(pf), np.concatenate(pbx), np.concatenate(psc)
        # objects
        of, obx, osc, olb = [], [], [], []

        def add_object(o, near, p_frame):
            tile = int(rng.choice(9, p=priors[o]))
            boxes = _place_object(rng, near, tile, rng.uniform(0.2, 0.5))
            base = rng.beta(5, 2)
            det = rng.random(t) >= (1 - p_frame)
            b, ok = _clip(_jitter(rng, boxes, cfg.object_jitter), width, height)
            det &= ok
            of.append(np.flatnonzero(det))
            obx.append(b[det])
            osc.append(np.clip(base + rng.normal(0, cfg.score_noise, int(det.sum())), 0.05, 1.0))
            olb.append(np.full(int(det.sum()), o))

        for o in truth[label]:
            if rng.random() < cfg.object_video:
                add_object(o, actors[0], 1.0 - cfg.object_miss)
        if distractors and rng.random() < cfg.confusers:
            other = int(rng.choice([a for a in range(len(actions)) if a != label]))
            add_object(int(rng.choice(truth[other])), distractors[int(rng.integers(len(distractors)))], 1.0 - cfg.object_miss)
        for o in rng.choice(background, size=min(cfg.background_per_video, len(background)), replace=False):
            static = np.broadcast_to(_random_boxes(rng, 1, width, height, 0.1, 0.35), (t, 4))
            base = rng.beta(3, 3)
            det = rng.random(t) < cfg.background_rate * (1.0 - cfg.object_miss)
            b, ok = _clip(_jitter(rng, static, cfg.object_jitter), width, height)
            det &= ok
            of.append(np.flatnonzero(det))
            obx.append(b[det])
            osc.append(np.clip(base + rng.normal(0, cfg.score_noise, int(det.sum())), 0.05, 1.0))
            olb.append(np.full(int(det.sum()), int(o)))
        n_fo = rng.poisson(cfg.false_objects, size=t)
        if n_fo.sum():
            fr = np.repeat(np.arange(t), n_fo)
            of.append(fr)
            obx.append(_random_boxes(rng, len(fr), width, height, 0.05, 0.3))
            osc.append(np.clip(rng.beta(1.5, 5, size=len(fr)), 0.05, 1.0))
            olb.append(rng.integers(1, n_obj, size=len(fr)))
        of = np.concatenate(of) if of else np.zeros(0, int)
        obx = np.concatenate(obx) if obx else np.zeros((0, 4))
        osc = np.concatenate(osc) if osc else np.zeros(0)
        olb = np.concatenate(olb).astype(np.int32) if olb else np.zeros(0, np.int32)
        pf, pbx, psc, _ = _cap(pf, pbx, psc, None, t, cfg.max_persons)
        of, obx, osc, olb = _cap(of, obx, osc, olb, t, cfg.max_objects)
        po = np.lexsort((rng.random(len(pf)), pf))  # shuffle within frames: the detector's order is arbitrary
        oo = np.lexsort((rng.random(len(of)), of))
        videos.append(LocVideo(
            name=name, label=label, n_frames=t, width=width, height=height,
            person_boxes=np.concatenate([pf[po, None], pbx[po]], axis=1).astype(np.float32),
            person_scores=psc[po].astype(np.float32),
            object_boxes=np.concatenate([of[oo, None], obx[oo]], axis=1).astype(np.float32),
            object_labels=olb[oo].astype(np.int32), object_scores=osc[oo].astype(np.float32),
            gt_boxes=gt.astype(np.float32),
        ))
    meta = {
        "source": f"upt_jax simulated localization world ({cfg.dataset}, {cfg.preset}, seed {cfg.seed}); "
                  "names, test list and priors real, videos and detections simulated",
        "synthetic": True,
        "config": cfg.to_dict(),
        "true_objects": {a: [o_names[o] for o in objs] for a, objs in zip(actions, truth)},
        "asset_sources": assets["sources"],
    }
    return LocalizationData(cfg.dataset, actions, o_names, assets["action_prototypes"], assets["object_prototypes"],
                            assets["priors"], videos, meta)
