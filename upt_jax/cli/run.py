"""``upt run``: the main job on the embedded default world (what ``make run`` runs).

    upt run [--world ucf101|hmdb51] [--preset clean|default|hard] [--out DIR]

Generates the seeded SYNTHETIC world (real class names and text-encoder
prototypes; visual features and the universal action model are simulated and
trained on seen Kinetics classes only), projects the test videos, and shows
the bias of the universal model and what UPT does about it: a table of
baseline vs UPT (top-1, top-5, mean class accuracy, classes never predicted),
the lam curve, the object model and its fusion; writes ``results.json`` and
PNG plots to ``--out``. The world shows the phenomenon, not the size of the
paper's gain (see README).
"""

from __future__ import annotations

import os
import time

import numpy as np

from upt_jax.cli import _common, _localization

__all__ = ["register", "handler", "run_world"]

LAMS = np.round(np.linspace(0.0, 1.0, 11), 2)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="the main job: default synthetic world, baseline vs UPT, tables, results.json and plots",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", choices=("classification", "localization"), default="classification",
                   help="classification (default) or localization (worlds ucf-sports, jhmdb, ucf101-24)")
    p.add_argument("--world", choices=("ucf101", "hmdb51", *_localization.WORLDS), default=None,
                   help="which default world (default ucf101; --task localization: ucf-sports)")
    p.add_argument("--preset", choices=("clean", "default", "hard"), default="default", help="world preset (default: default)")
    p.add_argument("--world-seed", type=int, default=0, help="seed of the generated world (default 0)")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default runs/<world>-<preset>-seed<S>)")
    p.add_argument("--n-videos", type=int, default=None, help="override the number of test videos (quick checks; default: the real dataset size)")
    p.add_argument("--seen-videos-per-class", type=int, default=None, help="override the training videos per seen class (quick checks)")
    p.add_argument("--projection", metavar="FILE", default=None,
                   help="load the trained universal model from FILE (.msgpack with its .json sidecar) instead of "
                   "training it; default: train, and save it to OUT/projection.msgpack")
    p.add_argument("--no-objects", action="store_true", help="skip the universal object model")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _common.add_upt_arguments(p, clusters=1000, solver="sinkhorn", lam=0.5)
    _localization.add_localization_arguments(p, lam=False)
    _localization.add_world_arguments(p, n_videos=False)
    p.set_defaults(func=handler)


def _world(args):
    from upt_jax import world as W

    overrides = {}
    if args.n_videos is not None:
        overrides["n_videos"] = args.n_videos
    if args.seen_videos_per_class is not None:
        overrides["videos_per_seen_class"] = args.seen_videos_per_class
    cfg = W.make_world_config(args.world, args.preset, seed=args.world_seed, **overrides)
    params = None
    if args.projection:
        import os

        from upt_jax import models

        if not os.path.isfile(args.projection):
            raise FileNotFoundError(f"--projection {args.projection}: no such file (written by an earlier `upt run` as OUT/projection.msgpack)")
        if cfg.projection != "flax":
            raise _common.UPTError("--projection loads a Flax head; this world uses projection='ridge'")
        params, _ = models.load_params(args.projection)
        what = f"loading the universal model from {args.projection}"
    else:
        what = "training its universal model on seen classes"
    with _common.Timer(f"generating the {args.world} world ({args.preset} preset, seed {args.world_seed}) and {what}"):
        w = W.generate_world(cfg, progress=True, params=params)
    return w, cfg


def _save_projection(w, wcfg, folder) -> str | None:
    """Save the trained Flax head (the issue's "trains (or loads)")."""
    if wcfg.projection != "flax":
        return None
    from upt_jax import models
    from upt_jax import world as W

    path = os.path.join(folder, "projection.msgpack")
    models.save_params(w.projection, path, W._head_cfg(wcfg))
    return path


def run_world(w, cfg, hp, *, seed: int = 0, lams=LAMS, objects: bool = True) -> dict:
    """Baseline, UPT at ``hp.lam``, the lam curve, no clustering and the object model."""
    import jax
    import jax.numpy as jnp

    from upt_jax import api, metrics

    protos = jnp.asarray(w.prototypes, jnp.float32)
    videos = jnp.asarray(w.videos, jnp.float32)
    labels = jnp.asarray(w.labels, jnp.int32)
    names = list(w.class_names)
    api.check_inputs(protos, videos, cfg, hp, labels=labels)
    key = jax.random.PRNGKey(seed)
    evaluate = jax.jit(metrics.evaluate)
    out: dict = {"timings": {}}
    base = evaluate(protos, videos, labels)
    out["baseline"] = metrics.summarize(base, names)
    out["baseline_counts"] = np.asarray(base.counts).tolist()

    with _common.Timer(f"clustering {videos.shape[0]} test projections into C={cfg.n_clusters or videos.shape[0]}") as t:
        centres = jax.jit(api.cluster_videos, static_argnames="config")(videos, cfg, key)
        centres = jax.block_until_ready(centres)
    out["timings"]["clustering_seconds"] = t.seconds

    # arrays are arguments, never closed-over constants (XLA would constant-fold them)
    def one(protos, centres, videos, labels, lam, eps):
        new, diag = api.transport_update(protos, centres, cfg, api.UPTHyper(lam, eps, hp.threshold))
        m = metrics.evaluate(new, videos, labels)
        return new, m, diag

    grid = jnp.asarray(np.unique(np.concatenate([np.asarray(lams, np.float32), [np.float32(hp.lam)]])), jnp.float32)
    sweep = jax.jit(jax.vmap(one, in_axes=(None, None, None, None, 0, None)))
    with _common.Timer(f"transport + Frechet means + update for {len(grid)} values of lam (vmapped)") as t:
        news, ms, diags = jax.block_until_ready(sweep(protos, centres, videos, labels, grid, jnp.float32(hp.epsilon)))
    out["timings"]["transport_update_seconds"] = t.seconds
    i = int(np.argmin(np.abs(np.asarray(grid) - float(hp.lam))))
    m_upt = jax.tree_util.tree_map(lambda x: x[i], ms)
    out["upt"] = metrics.summarize(m_upt, names)
    out["upt_counts"] = np.asarray(m_upt.counts).tolist()
    out["diagnostics"] = api.summarize_diagnostics(jax.tree_util.tree_map(lambda x: x[i], diags), names, config=cfg)
    out["lam_curve"] = [
        {"lam": float(grid[j]), "top1": float(ms.top1[j]), "top5": float(ms.top5[j]),
         "mean_class_accuracy": float(ms.mean_class_accuracy[j]), "unreachable": int(ms.unreachable[j])}
        for j in range(len(grid))
    ]
    if cfg.n_clusters not in (0,) and cfg.n_clusters < videos.shape[0]:
        cfg_n = cfg.replace(n_clusters=0)
        with _common.Timer("UPT without clustering (C = N)") as t:
            new_n, _ = jax.block_until_ready(jax.jit(api.make_upt(cfg_n))(protos, videos, key, hp))
        out["timings"]["no_clustering_seconds"] = t.seconds
        out["upt_no_clustering"] = metrics.summarize(evaluate(new_n, videos, labels), names)
    if objects:
        out.update(_object_rows(w, cfg, hp, key, news[i]))
    return out


OBJECT_ROWS = {
    "object": "object model",
    "object+upt_paper": "object model + UPT (paper: transport to objects)",
    "object+upt_example": "object model + UPT (example code: moved action prototypes)",
    "fused": "fused action+object (f=0.5)",
    "fused+upt_paper": "fused + UPT (paper)",
    "fused+upt_example": "fused + UPT (example code)",
}


def _object_rows(w, cfg, hp, key, moved) -> dict:
    try:
        from upt_jax import objects, world_objects
    except ImportError:  # pragma: no cover - object model not installed
        return {}
    with _common.Timer("universal object model: generating object probabilities and scoring (3 UPT variants)") as t:
        ds = world_objects.with_objects(w, seed=int(w.meta.get("config", {}).get("seed", 0)) if isinstance(w.meta, dict) else 0)
        ocfg = objects.ObjectConfig(top_n=10)
        rows = objects.object_report(ds, cfg, ocfg, key, objects.ObjectHyper(lam=hp.lam, epsilon=hp.epsilon, fusion=0.5),
                                     action_moved=moved)
    return {"object_model": rows, "object_config": ocfg.as_dict(), "fusion": 0.5,
            "n_objects": int(ds.object_prototypes.shape[0]), "object_seconds": t.seconds}


def _plots(out: dict, folder: str, title: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    before = np.sort(np.asarray(out["baseline_counts"]))[::-1]
    after = np.sort(np.asarray(out["upt_counts"]))[::-1]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(before))
    ax.bar(x, before, color="#d62728", alpha=0.55, label=f"baseline ({out['baseline']['unreachable']} never predicted)")
    ax.bar(x, after, color="#1f77b4", alpha=0.55, label=f"UPT lam={out['config']['lam']:g} ({out['upt']['unreachable']} never predicted)")
    ax.axhline(out["baseline"]["n_videos"] / max(len(before), 1), color="k", lw=0.8, ls="--", label="uniform")
    ax.set_xlabel("classes, sorted by number of predicted videos")
    ax.set_ylabel("videos predicted")
    ax.set_title(f"{title}: predictions per class (bias of the universal model)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    f = os.path.join(folder, "prediction_counts.png")
    fig.savefig(f, dpi=120)
    plt.close(fig)
    files.append(f)

    lc = out["lam_curve"]
    lams = [r["lam"] for r in lc]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(lams, [r["top1"] for r in lc], "o-", label="top-1")
    ax.set_xlabel("lam (fraction of the geodesic travelled; 0 = baseline)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax2 = ax.twinx()
    ax2.plot(lams, [r["unreachable"] for r in lc], "s--", color="#d62728", label="never predicted")
    ax2.set_ylabel("classes never predicted", color="#d62728")
    ax.set_title(f"{title}: UPT along the geodesic (C={out['config']['n_clusters']})")
    fig.tight_layout()
    f = os.path.join(folder, "top1_vs_lam.png")
    fig.savefig(f, dpi=120)
    plt.close(fig)
    files.append(f)
    return files


def handler(args) -> int:
    if args.task == "localization":
        return _localization.run_task(args)
    args.world = args.world or "ucf101"
    if args.world not in ("ucf101", "hmdb51"):
        from upt_jax.errors import UPTError

        raise UPTError(f"--world {args.world} is a localization world; add --task localization")
    t_start = time.perf_counter()
    cfg, hp = _common.config_from_args(args)
    folder = args.out or os.path.join("runs", f"{args.world}-{args.preset}-seed{args.world_seed}")
    os.makedirs(folder, exist_ok=True)
    w, wcfg = _world(args)
    out = run_world(w, cfg, hp, seed=args.seed, objects=not args.no_objects)
    if not args.projection:
        saved = _save_projection(w, wcfg, folder)
        if saved:
            out["projection_file"] = saved
    out["config"] = {**cfg.as_dict(), "lam": float(hp.lam), "epsilon": float(hp.epsilon), "seed": args.seed}
    out["world"] = {**wcfg.to_dict(), "synthetic": True, "n_videos": int(len(w.labels)), "n_classes": len(w.class_names),
                    **{k: v for k, v in (w.meta or {}).items() if k in ("n_seen", "seen_classes", "training", "timings", "seconds")}}
    out["environment"] = _common.environment()
    b, u = out["baseline"], out["upt"]
    title = f"{args.world} ({args.preset}, synthetic)"
    rows = [
        ["universal action model (baseline)", b["top1"], b["top5"], b["mean_class_accuracy"], f"{b['unreachable']} / {b['n_classes']}"],
        [f"+ UPT (C={cfg.n_clusters}, {cfg.solver}, lam={float(hp.lam):g})", u["top1"], u["top5"], u["mean_class_accuracy"], f"{u['unreachable']} / {u['n_classes']}"],
    ]
    if "upt_no_clustering" in out:
        r = out["upt_no_clustering"]
        rows.append([f"+ UPT (no clustering, lam={float(hp.lam):g})", r["top1"], r["top5"], r["mean_class_accuracy"], f"{r['unreachable']} / {r['n_classes']}"])
    for name, label in OBJECT_ROWS.items():
        r = (out.get("object_model") or {}).get(name)
        if r is not None:
            rows.append([label, r["top1"], r["top5"], r["mean_class_accuracy"], f"{r['unreachable']} / {r['n_classes']}"])
    print(f"\n{title}: {b['n_videos']} test videos, {b['n_classes']} unseen classes (SYNTHETIC world: shows the phenomenon, not the paper's gain)\n")
    print(_common.markdown_table(["model", "top-1 %", "top-5 %", "mean class acc %", "never predicted"], rows))
    lc = out["lam_curve"]
    print("\nlam:    " + " ".join(f"{r['lam']:5.1f}" for r in lc))
    print("top-1:  " + " ".join(f"{r['top1']:5.1f}" for r in lc))
    print("unreach:" + " ".join(f"{r['unreachable']:5d}" for r in lc))
    if not args.no_plots:
        out["plots"] = _plots(out, folder, title)
    out["timings"]["total_seconds"] = time.perf_counter() - t_start
    path = os.path.join(folder, "results.json")
    _common.write_json(path, out)
    print(f"\nwrote {path}" + (f" and {', '.join(out.get('plots', []))}" if out.get("plots") else ""))
    return _common.convergence_exit(out["diagnostics"], args)
