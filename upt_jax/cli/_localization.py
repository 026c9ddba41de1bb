"""The localization parts of the ``upt`` command (shared by ``localize``,
``import-detections``, ``export``, ``validate`` and ``run --task localization``).

Runs are host-side drivers around the pure :func:`upt_jax.localization.localize`:
the baseline (lam = 0) and UPT rows are one compiled call vmapped over lam, and
the actor-only row a second one; compiled functions are cached per
configuration for the life of the process.
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np

from upt_jax.cli import _common
from upt_jax.errors import UPTError

__all__ = [
    "WORLDS",
    "add_localization_arguments",
    "add_world_arguments",
    "config_from_args",
    "run_rows",
    "diagnostics",
    "summary",
    "print_table",
    "plot_map_vs_iou",
    "plot_tubes_example",
    "localize_command",
    "export_world",
    "validate_command",
    "run_task",
]

#: The simulated localization worlds (``upt export`` / ``upt run --task localization``).
WORLDS = ("ucf-sports", "jhmdb", "ucf101-24")


def add_localization_arguments(parser, *, lam: bool = True) -> None:
    """Options of the localization method (steps 1-5)."""
    g = parser.add_argument_group("localization options")
    if lam:
        g.add_argument("--lam", type=float, default=0.5, help="fraction of the geodesic travelled by UPT (0 = baseline; default 0.5)")
    g.add_argument("--top-objects", type=int, default=1, help="objects kept per action (default 1; 0 = actor only)")
    g.add_argument("--object-transport", choices=("paper", "none"), default="paper",
                   help="UPT to the object prototypes ('paper', default) or none")
    g.add_argument("--tubes", type=int, default=5, help="tubes per video and action (default 5)")
    g.add_argument("--iou-weight", type=float, default=1.0, help="weight of the IoU term when linking (default 1.0)")
    g.add_argument("--max-dist", type=float, default=25.0, help="largest actor-object gap in pixels (default 25)")
    if not any(a.dest == "solver" for a in parser._actions):
        g.add_argument("--solver", choices=("emd", "sinkhorn"), default="sinkhorn", help="transport solver (default sinkhorn)")
        g.add_argument("--epsilon", type=float, default=1e-2, help="Sinkhorn regularisation (default 0.01)")
        g.add_argument("--threshold", type=float, default=1e-3, help="Sinkhorn marginal tolerance (default 1e-3)")
        g.add_argument("--sinkhorn-iters", type=int, default=2000, help="Sinkhorn iteration cap (default 2000)")
        g.add_argument("--cost", choices=("cosine", "geodesic"), default="cosine", help="transport cost, over its max")
        g.add_argument("--frechet", choices=("converged", "example"), default="converged", help="Frechet mean stopping rule")
        g.add_argument("--strict", action="store_true",
                       help="exit with code 3 when the object transport or a Frechet mean did not converge (the warning "
                       "line on stderr is printed either way)")
    g.add_argument("--video-batch", type=int, default=32, help="videos scored and linked together (memory; default 32)")


def add_world_arguments(parser, *, n_videos: bool = True) -> None:
    """Size overrides of the simulated worlds (quick checks)."""
    if n_videos:
        parser.add_argument("--n-videos", type=int, default=None, help="fewer test videos (default: the real test list)")
    parser.add_argument("--n-frames", type=int, default=None, help="mean frames per video (default: close to the real data set)")
    parser.add_argument("--stride", type=int, default=1, help="keep every STRIDE-th frame (default 1)")


def config_from_args(args):
    """``(LocalizationConfig, LocalizationHyper)`` from parsed options."""
    from upt_jax.localization import LocalizationConfig, LocalizationHyper

    lam = float(getattr(args, "lam", 0.5))
    if not 0.0 <= lam <= 1.0:
        raise UPTError(f"--lam must lie in [0, 1] (fraction travelled; 0 = baseline), got {lam}")
    for name in ("iou_weight", "max_dist"):
        if getattr(args, name) < 0:
            raise UPTError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.epsilon <= 0:
        raise UPTError(f"--epsilon must be > 0, got {args.epsilon}")
    if args.threshold <= 0:
        raise UPTError(f"--threshold must be > 0, got {args.threshold}")
    if args.top_objects < 0:
        raise UPTError(f"--top-objects must be >= 0 (0 = actor only), got {args.top_objects}")
    cfg = LocalizationConfig(
        top_objects=args.top_objects,
        tubes=args.tubes,
        object_transport=args.object_transport,
        video_batch=args.video_batch,
        cost=args.cost,
        solver=args.solver,
        sinkhorn_max_iter=args.sinkhorn_iters,
        frechet=args.frechet,
        frechet_max_iter=getattr(args, "frechet_iters", None) or (32 if args.frechet == "example" else 100),
        frechet_tol=getattr(args, "frechet_tol", None) or 1e-6,
    )
    # the Sinkhorn tolerance is traced (like epsilon): another --threshold reuses the compiled program
    hp = LocalizationHyper(lam=np.float32(lam), iou_weight=np.float32(args.iou_weight), max_dist=np.float32(args.max_dist),
                           epsilon=np.float32(args.epsilon), threshold=np.float32(args.threshold))
    return cfg, hp


def _config_record(cfg, hp) -> dict:
    """The configuration of a run as written to JSON (static fields plus the traced values used)."""
    return {**cfg.as_dict(), "sinkhorn_threshold": float(hp.threshold), "lam": float(hp.lam),
            "iou_weight": float(hp.iou_weight), "max_dist": float(hp.max_dist), "epsilon": float(hp.epsilon)}


@functools.lru_cache(maxsize=8)
def _compiled(config):
    import jax

    from upt_jax.localization import make_localize

    from upt_jax.localization import LocalizationHyper

    # only lam is batched: the transport plan and targets are computed once
    axes = LocalizationHyper(lam=0, iou_weight=None, max_dist=None, epsilon=None, threshold=None)
    return jax.jit(jax.vmap(make_localize(config), in_axes=(None, axes)))


def _stack(hp, lams):
    import jax.numpy as jnp

    return hp._replace(lam=jnp.asarray(lams, jnp.float32), iou_weight=jnp.float32(hp.iou_weight),
                       max_dist=jnp.float32(hp.max_dist), epsilon=jnp.float32(hp.epsilon),
                       threshold=None if hp.threshold is None else jnp.float32(hp.threshold))


def _index(tree, i):
    """Slot ``i`` of every leaf, as NumPy (copied to the host first: indexing
    a device array would compile a slice per leaf shape)."""
    import jax

    return jax.tree_util.tree_map(lambda a: np.asarray(a)[i] if a is not None else None, tree)


def run_rows(inputs, config, hp, *, actor_only: bool = True, quiet: bool = False) -> dict:
    """Baseline (lam = 0) and UPT (``hp.lam``) in one compiled call, plus actor-only.

    Returns:
      ``{"baseline": LocalizationResult, "upt": LocalizationResult,
      "actor": LocalizationResult (if asked), "seconds": {...}}`` (NumPy leaves).
    """
    import jax

    out = {"seconds": {}}
    with _common.Timer(f"scoring + linking + evaluation: baseline and lam={float(hp.lam):g} (compiled together)", quiet=quiet) as t:
        res = jax.block_until_ready(_compiled(config)(inputs, _stack(hp, [0.0, float(hp.lam)])))
    out["seconds"]["objects"] = t.seconds
    out["baseline"], out["upt"] = _index(res, 0), _index(res, 1)
    if actor_only:
        with _common.Timer("actor-only boxes (no objects)", quiet=quiet) as t:
            res = jax.block_until_ready(_compiled(config.replace(top_objects=0, object_transport="none"))(inputs, _stack(hp, [0.0])))
        out["seconds"]["actor"] = t.seconds
        out["actor"] = _index(res, 0)
    return out


def summary(result, data, config) -> dict:
    """The ``--json`` keys of one run (percent)."""
    m = result.metrics
    thr = [f"{t:g}" for t in config.thresholds]
    i5 = thr.index("0.5") if "0.5" in thr else None
    ap5 = {} if i5 is None else {
        n: (None if not np.isfinite(v) else float(v)) for n, v in zip(data.action_names, np.asarray(m.ap[i5]))
    }
    return {
        "map": {k: float(v) for k, v in zip(thr, np.asarray(m.map))},
        "map_at_0.5": None if i5 is None else float(m.map[i5]),
        "map_mean": float(np.mean(np.asarray(m.map))),
        "classification_top1": float(m.top1),
        "ap_at_0.5_per_class": ap5,
        "n_videos": len(data.videos),
        "n_actions": len(data.action_names),
        "objects_per_action": {a: [data.object_names[int(o)] for o in row] for a, row in zip(data.action_names, np.asarray(result.object_indices))},
    }


def diagnostics(result, data, config) -> dict | None:
    """The transport's diagnostics of one run, with the project's one naming
    scheme (:func:`upt_jax.api.summarize_diagnostics`, classes = actions)
    plus ``objects_with_mass``; ``None`` when no transport was solved
    (``--object-transport none`` or ``--top-objects 0``)."""
    from upt_jax.api import summarize_diagnostics

    if result.diagnostics is None:
        return None
    out = summarize_diagnostics(result.diagnostics, list(data.action_names), config=config.upt_config())
    out["objects_with_mass"] = int(np.sum(np.asarray(result.object_mass) > 0))
    return out


def print_table(rows: list[tuple[str, dict]], title: str) -> str:
    """Markdown table of mAP@0.1..0.8, mean and top-1 per row; printed and returned."""
    thr = list(rows[0][1]["map"])
    header = ["model"] + [f"mAP@{t}" for t in thr] + ["mean", "top-1 %"]
    body = [[name] + [s["map"][t] for t in thr] + [s["map_mean"], s["classification_top1"]] for name, s in rows]
    table = _common.markdown_table(header, body, floatfmt=".1f")
    print(f"\n{title}\n")
    print(table)
    return table


def plot_map_vs_iou(rows: list[tuple[str, dict]], path: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for (name, s), mk in zip(rows, ("s--", "o-", "^-", "d-")):
        thr = [float(t) for t in s["map"]]
        ax.plot(thr, list(s["map"].values()), mk, label=f"{name} (mean {s['map_mean']:.1f})")
    ax.set_xlabel("ST-IoU threshold")
    ax.set_ylabel("video-mAP (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_tubes_example(data, inputs, result, path: str, *, n_videos: int = 3, n_frames: int = 4, title: str = "") -> str:
    """A few frames of some videos: detections (grey), objects (thin, labelled),
    the ground truth (green) and the best tube of the predicted class (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    labels = np.asarray(inputs.labels)
    pred = np.asarray(result.metrics.predictions)
    # correctly classified videos first (best overlap first, one per action), then one mistake
    right = pred == labels
    order = np.lexsort((-np.asarray(result.metrics.best_st_iou), ~right))
    picks, seen = [], set()
    for i in order:
        if right[i] and labels[i] not in seen and len(picks) < n_videos - 1:
            picks.append(int(i))
            seen.add(labels[i])
    wrong = [int(i) for i in order if not right[i]]
    picks += wrong[:1] if wrong else [int(i) for i in order if int(i) not in picks][:1]
    fig, axes = plt.subplots(len(picks), n_frames, figsize=(2.6 * n_frames, 2.1 * len(picks)), squeeze=False)
    for r, i in enumerate(picks):
        v = data.videos[i]
        a = int(pred[i])
        k = int(np.argmax(np.asarray(result.tube_scores)[i, a]))
        tube = np.asarray(result.tubes)[i, a, k]
        gtm = np.asarray(inputs.gt_mask)[i]
        frames = np.flatnonzero(np.any(gtm, axis=0) & (tube >= 0))
        if not len(frames):
            frames = np.flatnonzero(tube >= 0)
        sel = frames[np.linspace(0, len(frames) - 1, n_frames).round().astype(int)] if len(frames) else np.zeros(n_frames, int)
        for c, t in enumerate(sel):
            ax = axes[r, c]
            ax.set_xlim(0, v.width)
            ax.set_ylim(v.height, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("#f4f4f4")
            pm = np.asarray(inputs.person_mask)[i, t]
            for b in np.asarray(inputs.person_boxes)[i, t][pm]:
                ax.add_patch(mpatches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec="#999999", lw=0.6))
            om = np.asarray(inputs.object_mask)[i, t]
            kept = set(np.asarray(result.object_indices)[a].tolist())
            for b, lab in zip(np.asarray(inputs.object_boxes)[i, t][om], np.asarray(inputs.object_labels)[i, t][om]):
                col = "#1f77b4" if int(lab) in kept else "#bbbbdd"
                ax.add_patch(mpatches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec=col, lw=0.6, ls=":"))
                if int(lab) in kept:
                    ax.text(b[0], b[1], data.object_names[int(lab)], fontsize=5, color=col, va="bottom")
            for g in range(gtm.shape[0]):
                if gtm[g, t]:
                    b = np.asarray(inputs.gt_boxes)[i, g, t]
                    ax.add_patch(mpatches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec="#2ca02c", lw=1.6))
            if tube[t] >= 0:
                b = np.asarray(inputs.person_boxes)[i, t, tube[t]]
                ax.add_patch(mpatches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec="#d62728", lw=1.2, ls="--"))
            ax.set_title(f"frame {t}", fontsize=6)
        axes[r, 0].set_ylabel(f"{data.action_names[labels[i]]}\npred: {data.action_names[a]}", fontsize=6)
    fig.suptitle(title + "\ngreen: ground truth, red dashed: best tube of the predicted action, grey: person detections, "
                 "blue dotted: the action's objects", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _load(path):
    from upt_jax.localization import data as D

    if not D.is_localization(path):
        raise UPTError(f"--data {path}: not a localization folder (meta.json with \"format\": \"upt_jax-localization\"); "
                         "write one with `upt export --world ucf-sports --out DIR` or `upt import-detections`")
    return D.load_localization(path)


def localize_command(args) -> int:
    """``upt localize``."""
    from upt_jax.localization import check_inputs
    from upt_jax.localization import data as D

    t0 = time.perf_counter()
    cfg, hp = config_from_args(args)
    with _common.Timer(f"reading {args.data}"):
        data = _load(args.data)
        inputs = D.to_inputs(data)
    check_inputs(inputs, cfg, hp)
    rows = run_rows(inputs, cfg, hp, actor_only=False)
    base, upt = summary(rows["baseline"], data, cfg), summary(rows["upt"], data, cfg)
    tag = f"+ UPT (lam={float(hp.lam):g})" if cfg.object_transport == "paper" else "(no transport)"
    print_table([(f"baseline ({cfg.top_objects} object(s) per action)", base), (f"objects {tag}", upt)],
                f"{data.name}: {len(data.videos)} videos, {len(data.action_names)} actions, {len(data.object_names)} objects")
    out = dict(upt)
    out["baseline"] = base
    out["diagnostics"] = diagnostics(rows["upt"], data, cfg)
    out["config"] = {**_config_record(cfg, hp), "data": os.path.abspath(args.data)}
    out["environment"] = _common.environment()
    out["seconds"] = {**rows["seconds"], "total": time.perf_counter() - t0}
    if args.out:
        with _common.Timer(f"writing tubes to {args.out}"):
            out["tubes"] = D.write_tubes(args.out, data, inputs, rows["upt"].tubes, rows["upt"].tube_scores, out["config"])
            if args.hdf5:
                out["tubes_hdf5"] = D.write_tubes_hdf5(args.out, data, inputs, rows["upt"].tubes, _box_scores_fn(inputs, rows["upt"], cfg, hp))
    if args.json:
        _common.write_json(args.json, out)
        print(f"\nwrote {args.json}")
    return _common.convergence_exit(out["diagnostics"], args, what="object transport")


def _box_scores_fn(inputs, result, cfg, hp):
    """Per-video box scores ``[A, T, P]`` (for the HDF5 per-frame scores)."""
    import jax
    import jax.numpy as jnp

    from upt_jax.localization import scoring

    w = np.zeros((inputs.object_prototypes.shape[0], inputs.prototypes.shape[0]), np.float32)
    idx, wt = np.asarray(result.object_indices), np.asarray(result.object_weights)
    for a in range(idx.shape[0]):
        w[idx[a], a] = wt[a]

    @jax.jit
    def one(pb, ps, pm, ob, ol, os_, om):
        if cfg.top_objects == 0:
            return jnp.broadcast_to(ps[None], (w.shape[1],) + ps.shape)
        t = scoring.pair_terms(pb, pm, ob, ol, os_, om, inputs.priors, hp.max_dist)
        return jnp.moveaxis(scoring.box_scores(ps, t, w), -1, 0)

    def fn(i):
        x = inputs
        return one(x.person_boxes[i], x.person_scores[i], x.person_mask[i], x.object_boxes[i], x.object_labels[i],
                   x.object_scores[i], x.object_mask[i])

    return fn


def _world(args, preset: str, seed: int):
    from upt_jax.localization import world as W

    over = {}
    if getattr(args, "n_videos", None) is not None:
        over["n_videos"] = args.n_videos
    if getattr(args, "n_frames", None) is not None:
        over["n_frames"] = args.n_frames
    if getattr(args, "stride", 1) != 1:
        over["stride"] = args.stride
    cfg = W.make_world_config(args.world, preset, seed=seed, **over)
    with _common.Timer(f"simulating the {args.world} localization world ({preset}, seed {seed})"):
        return W.generate_world(cfg, progress=True), cfg


def export_world(args) -> int:
    """``upt export --world ucf-sports|jhmdb|ucf101-24 --out DIR``."""
    from upt_jax.localization import data as D

    data, _ = _world(args, args.preset, args.world_seed)
    D.save_localization(data, args.out)
    n_frames = sum(v.n_frames for v in data.videos)
    print(f"wrote localization folder {args.out}: {len(data.action_names)} actions, {len(data.object_names)} objects, "
          f"{len(data.videos)} videos, {n_frames} frames")
    return 0


def validate_command(path: str) -> int | None:
    """``upt validate DIR`` for a localization folder (``None``: not one)."""
    from upt_jax.localization import data as D

    if not D.is_localization(path):
        return None
    problems, data = D._read(os.fspath(path))
    if not problems and data is not None:
        n_frames = sum(v.n_frames for v in data.videos)
        print(f"OK: localization, {len(data.action_names)} actions, {len(data.object_names)} objects, "
              f"{len(data.videos)} videos, {n_frames} frames, {data.action_prototypes.shape[1]} dims")
        return 0
    n = len(problems)
    print(f"{path} (localization): {n} problem{'s' if n > 1 else ''}")
    for p in problems:
        print(f"  {p}")
    return 1


def run_task(args) -> int:
    """``upt run --task localization``: the three rows, two pictures, results.json."""
    from upt_jax.localization import data as D

    t0 = time.perf_counter()
    world = args.world or "ucf-sports"
    if world not in WORLDS:
        raise UPTError(f"--world {world}: the localization worlds are {', '.join(WORLDS)}")
    args.world = world
    cfg, hp = config_from_args(args)
    folder = args.out or os.path.join("runs", f"loc-{world}-{args.preset}-seed{args.world_seed}")
    os.makedirs(folder, exist_ok=True)
    data, wcfg = _world(args, args.preset, args.world_seed)
    inputs = D.to_inputs(data)
    rows = run_rows(inputs, cfg, hp, actor_only=True)
    named = [
        ("actor only", summary(rows["actor"], data, cfg)),
        (f"+ objects (top-{cfg.top_objects})", summary(rows["baseline"], data, cfg)),
        (f"+ objects + UPT (lam={float(hp.lam):g})", summary(rows["upt"], data, cfg)),
    ]
    title = f"{world} localization world ({args.preset}, seed {args.world_seed}; SIMULATED videos, real names and priors)"
    table = print_table(named, f"{title}: {len(data.videos)} videos, {len(data.action_names)} actions")
    out = {
        "rows": {k: s for k, s in zip(("actor", "objects", "objects+upt"), (s for _, s in named))},
        "table": table,
        "diagnostics": diagnostics(rows["upt"], data, cfg),
        "true_objects": data.meta.get("true_objects"),
        "config": _config_record(cfg, hp),
        "world": {**wcfg.to_dict(), "synthetic": True},
        "environment": _common.environment(),
        "seconds": rows["seconds"],
    }
    print("\nobjects per action (baseline -> UPT; true objects of the simulation):")
    base_o, upt_o = named[1][1]["objects_per_action"], named[2][1]["objects_per_action"]
    for a in data.action_names:
        print(f"  {a}: {', '.join(base_o[a])} -> {', '.join(upt_o[a])}   (true: {', '.join(out['true_objects'].get(a, []))})")
    if not getattr(args, "no_plots", False):
        out["plots"] = [
            plot_map_vs_iou(named, os.path.join(folder, "map_vs_iou.png"), title),
            plot_tubes_example(data, inputs, rows["upt"], os.path.join(folder, "tubes_example.png"), title=title),
        ]
    out["seconds"]["total"] = time.perf_counter() - t0
    path = os.path.join(folder, "results.json")
    _common.write_json(path, out)
    print(f"\nwrote {path}" + (f" and {', '.join(out.get('plots', []))}" if out.get("plots") else ""))
    return _common.convergence_exit(out["diagnostics"], args, what="object transport")
