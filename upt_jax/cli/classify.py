"""``upt classify``: zero-shot classification of a user's data, baseline vs UPT (or another method).

Examples::

    upt classify --official data/ucf-101 --lam 0.5 --clusters 1000 --solver emd --json out.json
    upt classify --official data/ucf-101 --targets data/ucf-101/ot/transductive_ucf101_0_1000-kmeans_EMD.npy --lam 0.5
    upt classify --official data/ucf-101 --fusion 0.5 --top-objects 10 --object-transport example
    upt classify --data DIR --method inverted-softmax --beta 30
    upt classify --data DIR --method upt+csls --csls-k 10 --solver sinkhorn --clusters 0
    upt classify --data DIR --solver sinkhorn --clusters 0 --tau-a 0.9 --class-prior estimated

``--method`` picks what is evaluated (default ``upt``): ``baseline`` (the
prototypes as given), ``upt``, a transductive correction of the original
prototypes' scores (``csls``, ``inverted-softmax``, ``centre``,
``balanced``, ``refine``, ``refine-balanced``: no UPT), or UPT followed by
one of them (``upt+csls``, ...). ``--csls-k`` and ``--beta`` are CSLS's
neighbourhood and the inverted softmax's inverse temperature; ``--epsilon``
is the Sinkhorn regularisation of every transport the method solves (UPT's
and the balanced correction's) and ``--class-prior`` the class masses of
both. The table and the JSON give the method's metrics next to the baseline.

``--lam`` is the fraction of the geodesic travelled (0 = baseline). The example
code's ``-l L`` is ``--lam 1-L``. With ``--targets`` the prototypes are moved
with the example code's own slerp arithmetic (on the raw vectors, then
normalised), so its numbers are reproduced exactly.

Large N: ``--chunk-size B`` (or ``auto``) runs transport, Frechet means and
classification by blocks (Sinkhorn only), e.g. C = N on 10^5 videos:
``upt classify --data DIR --solver sinkhorn --clusters 0 --chunk-size 4096``.

Convergence: when the transport or a class's Frechet mean did not converge,
one warning line on stderr names them; ``--strict`` then exits with code 3
(after writing the tables and ``--json``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time

import numpy as np

from upt_jax.cli import _common, _stages
from upt_jax.errors import DataError, UPTError

__all__ = ["register", "handler", "classify_dataset"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "classify",
        help="zero-shot classification of a data folder: baseline vs UPT (top-1, top-5, unreachable classes)",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--official", metavar="DIR", help="the example code's data folder (e.g. data/ucf-101)")
    src.add_argument("--data", metavar="DIR", help="a folder in either layout (example code's or upt_jax portable)")
    p.add_argument("--video-model", default=None, help="which <prefix>_video_embeddings_<MODEL>.npy to read (default r2plus1d18)")
    p.add_argument("--targets", metavar="FILE", help="precomputed [K, d] target prototypes (the example code's ot/*.npy)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    _common.add_upt_arguments(p, clusters=1000, solver="emd", lam=0.5, priors=True)
    m = p.add_argument_group("method (UPT or a transductive comparator)")
    m.add_argument("--method", default="upt", metavar="NAME",
                   help="baseline | upt | csls | inverted-softmax | centre | balanced | refine | refine-balanced | "
                   "upt+<one of those corrections> (default upt)")
    m.add_argument("--csls-k", type=int, default=10, metavar="K", help="CSLS neighbourhood size, >= 1 (default 10)")
    m.add_argument("--beta", type=float, default=10.0, metavar="B",
                   help="inverse temperature of the inverted softmax, > 0 (default 10)")
    g = p.add_argument_group("universal object model (needs objectscores/ and object prototypes)")
    g.add_argument("--fusion", type=float, default=None, help="f in f*action + (1-f)*object (example code's best: 0.5)")
    g.add_argument("--top-objects", type=int, default=10, help="objects kept per action (default 10)")
    g.add_argument(
        "--object-transport",
        choices=("paper", "example", "none"),
        default=None,
        help="UPT for the object model: 'paper' (transport to object prototypes), 'example' (score objects with the "
        "action-UPT prototypes, as the example code), 'none' (default: 'example' with --fusion, else 'none')",
    )
    p.set_defaults(func=handler)


def _load(args, need_objects: bool):
    from upt_jax import data

    if args.official:
        return data.load_official(args.official, load_objects=need_objects, video_model=args.video_model)
    kw = {"video_model": args.video_model} if args.video_model else {}
    return data.load_dataset(args.data, load_objects=need_objects, **kw)


def _load_targets(path: str, shape) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--targets {path}: no such file; pass the example code's ot/<name>.npy or a file from `upt transport`")
    try:
        t = np.load(path, allow_pickle=False)
    except Exception as err:
        raise DataError(f"--targets {path}: not a readable .npy file ({err})") from err
    if t.shape != tuple(shape):
        raise DataError(f"--targets {path} has shape {list(t.shape)}, expected {list(shape)} (one target per class prototype)")
    if not np.all(np.isfinite(t)):
        raise DataError(f"--targets {path} {list(t.shape)} contains NaN or Inf")
    return t


def method_from_args(args):
    """The :class:`upt_jax.baselines.MethodConfig` of ``--method``/``--csls-k``/``--beta`` (checked).

    Raises:
      UPTError: an unknown method (one line with the valid names) or a
        hyper-parameter out of range.
    """
    from upt_jax import baselines

    name = args.method
    if name not in baselines.METHODS:
        raise UPTError(f"--method {name!r} is not a method; choose one of: {', '.join(baselines.method_names())}")
    if args.csls_k < 1:
        raise UPTError(f"--csls-k must be >= 1 (neighbours of CSLS), got {args.csls_k}")
    if not (np.isfinite(args.beta) and args.beta > 0):
        raise UPTError(f"--beta must be > 0 (inverse temperature of the inverted softmax), got {args.beta}")
    prior = getattr(args, "class_prior", "uniform")
    return baselines.method_config(name, csls_k=int(args.csls_k), beta=float(args.beta), prior=prior)


def classify_dataset(
    ds,
    cfg,
    hp,
    *,
    seed: int = 0,
    targets: np.ndarray | None = None,
    object_options: dict | None = None,
    method=None,
) -> dict:
    """Baseline and UPT (or ``method``) metrics of a loaded dataset (host driver used by the CLI).

    With ``cfg.chunk_size > 0`` the transport and the evaluation run by
    blocks (no ``[K, N]`` or ``[N, K]`` matrix; a method other than
    ``upt``/``baseline`` scores the dense ``[N, K]`` matrix).

    Args:
      ds: a :class:`upt_jax.data.Dataset`.
      cfg, hp: UPT's :class:`upt_jax.UPTConfig` and :class:`upt_jax.UPTHyper`.
      seed: k-means seed.
      targets: precomputed ``[K, d]`` targets (the example code's arithmetic).
      object_options: the object model's options (``--fusion``), with
        ``method`` ``upt`` only.
      method: a :class:`upt_jax.baselines.MethodConfig` (or name); ``None``
        = ``upt``. Methods without UPT leave the prototypes as given and
        correct their scores; ``upt+X`` corrects the moved prototypes'
        scores (:func:`upt_jax.baselines.scores_for`, with ``hp.epsilon``
        and ``hp.prior``).

    Returns a JSON-ready dict: the method's (or fused) metrics at top level,
    plus ``baseline``, ``diagnostics`` (:func:`upt_jax.api.summarize_diagnostics`,
    present when UPT ran), ``method_diagnostics`` (the balanced
    correction's transport, when the method has one), ``timings`` and, with
    objects, ``action``/``object``/``fused`` blocks.
    """
    import jax
    import jax.numpy as jnp

    from upt_jax import api, baselines, metrics, scale, sphere

    mcfg = baselines.method_config("upt" if method is None else method)
    if object_options is not None and mcfg.name != "upt":
        raise UPTError(f"--fusion / --object-transport go with --method upt (the object model is fused with UPT's "
                       f"action scores), got --method {mcfg.name}")

    protos = np.asarray(ds.prototypes, np.float32)
    videos = np.asarray(ds.videos, np.float32)
    labels = np.asarray(ds.labels, np.int32)
    # with given targets (or lam = 0) no clustering happens: C is not checked
    api.check_inputs(protos, videos, cfg if targets is None and float(hp.lam) > 0 else None, hp, labels=labels)
    names = list(ds.class_names)
    timings = {}
    t0 = time.perf_counter()
    if cfg.chunk_size > 0:
        evaluate = jax.jit(lambda p, v, lab: scale.evaluate_chunked(p, v, lab, chunk=max(cfg.chunk_size, 8192)))
    else:
        evaluate = jax.jit(metrics.evaluate)
    base = evaluate(protos, videos, labels)
    lam = float(hp.lam)
    diag_out = None
    if not mcfg.upt:  # no UPT: the prototypes as given (the baseline's), then the method's correction
        new = np.asarray(sphere.normalize(jnp.asarray(protos)))
        source = "baseline"
    elif targets is not None:
        from upt_jax import objects

        # the example code's arithmetic: its slerp on the raw vectors with -l = 1 - lam, then normalise
        new = np.asarray(objects.example_code_prototypes(jnp.asarray(protos), jnp.asarray(targets, jnp.float32), 1.0 - lam))
        source = "targets"
    elif lam == 0.0:
        new = np.asarray(sphere.normalize(jnp.asarray(protos)))
        source = "baseline"
    else:
        path = f", blocks of {cfg.chunk_size}" if cfg.chunk_size else ""
        with _common.Timer(f"UPT (C={cfg.n_clusters or len(videos)}, {cfg.solver}, lam={lam:g}{path})") as tm:
            new_j, diag = _stages.upt_staged(cfg, protos, videos, jax.random.PRNGKey(seed), hp)
            new = np.asarray(jax.block_until_ready(new_j))
        timings["upt_seconds"] = tm.seconds
        source = "upt"
        diag_out = api.summarize_diagnostics(diag, names, config=cfg)
    method_diag = None
    if mcfg.correction == "none":
        after = evaluate(new, videos, labels)
    else:
        hyper = mcfg.hyper(epsilon=jnp.float32(hp.epsilon))
        prior = None if hp.prior is None else jnp.asarray(hp.prior, jnp.float32)
        correct = _compiled_correction(dataclasses.replace(mcfg, name=mcfg.correction, upt=False))
        with _common.Timer(f"{mcfg.correction} on the {'moved' if mcfg.upt else 'given'} prototypes"):
            after, conv, iters = jax.block_until_ready(correct(new, videos, labels, hyper, prior))
        if mcfg.correction == "balanced" or mcfg.refine_balanced:
            method_diag = {"converged": bool(conv), "iterations": int(iters), "solver": mcfg.solver,
                           "sinkhorn_max_iter": int(mcfg.sinkhorn_max_iter)}
    out = metrics.summarize(after, names)
    out["baseline"] = metrics.summarize(base, names)
    out["prototypes_from"] = source
    if diag_out is not None:
        out["diagnostics"] = diag_out
    if method_diag is not None:
        out["method_diagnostics"] = method_diag
    if object_options is not None:
        out.update(_objects_block(ds, protos, videos, labels, new, names, cfg, hp, object_options, seed))
    timings["total_seconds"] = time.perf_counter() - t0
    out["timings"] = timings
    return out


@functools.lru_cache(maxsize=8)
def _compiled_correction(mcfg):
    """The jitted score correction of a static method config and its evaluation, compiled once per process
    (called with ``name`` = the correction and ``upt=False``, which :func:`upt_jax.baselines.scores_for` does
    not read, so ``csls`` and ``upt+csls`` share one program)."""
    import jax

    from upt_jax import baselines, metrics

    def correct(p, v, lab, h, pr):
        res = baselines.scores_for(mcfg, p, v, h, prior=pr)
        return metrics.evaluate_scores(res.scores, lab), res.converged, res.n_iters

    return jax.jit(correct)


def _objects_block(ds, protos, videos, labels, moved, names, cfg, hp, opts, seed) -> dict:
    import jax
    import jax.numpy as jnp

    from upt_jax import metrics, objects

    if ds.object_prototypes is None or ds.object_probs is None:
        raise DataError(
            "--fusion/--object-transport need object prototypes (embeddings/imagenet*_embeddings.npy) and per-video "
            "object scores (objectscores/<video>/avg-features.npy) in the data folder"
        )
    transport = opts["transport"]
    ocfg = objects.ObjectConfig(top_n=opts["top_n"], transport=transport, solver=cfg.solver, frechet=cfg.frechet,
                                frechet_max_iter=cfg.frechet_max_iter)
    ohp = objects.ObjectHyper(lam=hp.lam, epsilon=hp.epsilon, fusion=np.float32(opts["fusion"]))
    oprotos = jnp.asarray(ds.object_prototypes, jnp.float32)
    oprobs = jnp.asarray(ds.object_probs, jnp.float32)
    objects.check_object_inputs(protos, videos, oprotos, oprobs, ocfg)
    # the action score always uses the (UPT-moved) action prototypes; the object
    # side uses them too ('example'), transports its own ('paper') or not ('none')
    am = jnp.asarray(moved)
    with _common.Timer(f"object model (top-{ocfg.top_n}, transport={transport}, fusion={opts['fusion']:g})"):
        sc = jax.jit(lambda p, v, op, pr, a, h: objects.classify(p, v, op, pr, ocfg, h, action_moved=a))(
            jnp.asarray(protos), jnp.asarray(videos), oprotos, oprobs, am, ohp
        )
        sc = jax.block_until_ready(sc)
    ev = jax.jit(objects.evaluate_scores)
    res = {
        "action": metrics.summarize(ev(sc.action, labels), names),
        "object": metrics.summarize(ev(sc.object, labels), names),
        "fused": metrics.summarize(ev(sc.fused, labels), names),
        "object_config": ocfg.as_dict(),
        "fusion": opts["fusion"],
    }
    # the headline becomes the fused model
    res.update({k: v for k, v in res["fused"].items()})
    return res


def handler(args) -> int:
    cfg, hp = _common.config_from_args(args)  # checks every option before loading
    mcfg = method_from_args(args)
    need_objects = args.fusion is not None or args.object_transport is not None
    object_options = None
    if need_objects and mcfg.name != "upt":
        raise UPTError(f"--fusion / --object-transport go with --method upt, got --method {mcfg.name}")
    if need_objects:
        fusion = 0.5 if args.fusion is None else args.fusion
        if not 0.0 <= fusion <= 1.0:
            raise UPTError(f"--fusion must lie in [0, 1] (1 = action model only), got {fusion}")
        if args.top_objects < 1:
            raise UPTError(f"--top-objects must be >= 1, got {args.top_objects}")
        object_options = {
            "fusion": fusion,
            "top_n": args.top_objects,
            "transport": args.object_transport or "example",
        }
    with _common.Timer("loading data"):
        ds = _load(args, need_objects)
    if args.chunk_size == "auto":
        n_points = args.clusters if 0 < args.clusters < len(ds.labels) else len(ds.labels)
        cfg, hp = _common.config_from_args(args, n_classes=len(ds.class_names), n_points=n_points)
        _common.log(f"[upt] --chunk-size auto: {cfg.chunk_size or 'dense'}")
    targets = None
    if args.targets:
        targets = _load_targets(args.targets, np.shape(ds.prototypes))
    if hp.prior is not None and np.shape(hp.prior) != (len(ds.class_names),):
        raise DataError(f"--prior {args.prior} has {np.size(hp.prior)} weights, the data has {len(ds.class_names)} "
                        "classes; give one weight per class, in the order of the class list")
    out = classify_dataset(ds, cfg, hp, seed=args.seed, targets=targets, object_options=object_options, method=mcfg)
    out["config"] = {
        **cfg.as_dict(),
        "lam": float(hp.lam),
        "epsilon": float(hp.epsilon),
        "seed": args.seed,
        "data": args.official or args.data,
        "targets": args.targets,
        "example_code_l": 1.0 - float(hp.lam),
        "method": mcfg.name,
        "method_config": mcfg.as_dict(),
        "csls_k": int(mcfg.csls_k),
        "beta": float(mcfg.beta),
        "prior_file": getattr(args, "prior", None),
        **({"objects": object_options} if object_options else {}),
    }
    out["environment"] = _common.environment()
    b = out["baseline"]
    rows = [["baseline", b["top1"], b["top5"], b["mean_class_accuracy"], b["unreachable"]]]
    if object_options:
        for key in ("action", "object", "fused"):
            r = out[key]
            rows.append([f"{key} (UPT lam={float(hp.lam):g})", r["top1"], r["top5"], r["mean_class_accuracy"], r["unreachable"]])
    elif mcfg.name == "upt":
        label = {"targets": "UPT (given targets)", "upt": "UPT", "baseline": "baseline (lam=0)"}[out["prototypes_from"]]
        rows.append([f"{label} lam={float(hp.lam):g}", out["top1"], out["top5"], out["mean_class_accuracy"], out["unreachable"]])
    elif mcfg.name != "baseline":
        rows.append([_method_label(mcfg, hp, out["prototypes_from"]), out["top1"], out["top5"], out["mean_class_accuracy"],
                     out["unreachable"]])
    print(f"{out['n_videos']} videos, {out['n_classes']} classes")
    print(_common.markdown_table(["model", "top-1 %", "top-5 %", "mean class acc %", "unreachable"], rows))
    if out["unreachable_classes"]:
        print(f"never predicted ({out['unreachable']}): {', '.join(out['unreachable_classes'][:20])}"
              + (" ..." if out["unreachable"] > 20 else ""))
    if args.json:
        _common.write_json(args.json, out)
        _common.log(f"[upt] wrote {args.json}")
    md = out.get("method_diagnostics")
    if md is not None and not md["converged"]:
        _common.log(f"upt classify: warning: the {mcfg.correction} correction's Sinkhorn stopped after "
                    f"{md['iterations']} iterations without converging (raise --epsilon)")
        if args.strict and out.get("diagnostics") is None:
            return 3
    return _common.convergence_exit(out.get("diagnostics"), args)


def _method_label(mcfg, hp, source: str) -> str:
    knob = {"csls": f" k={mcfg.csls_k}", "inverted-softmax": f" beta={mcfg.beta:g}"}.get(mcfg.correction, "")
    if not mcfg.upt:
        return f"{mcfg.correction}{knob}"
    upt = "UPT (given targets)" if source == "targets" else "UPT"
    return f"{upt} lam={float(hp.lam):g} + {mcfg.correction}{knob}"
