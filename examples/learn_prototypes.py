"""Learn lam and a prototype correction through UPT by gradient descent.

    python examples/learn_prototypes.py                        # the default UCF-101 world (synthetic)
    python examples/learn_prototypes.py --data DIR --steps 100 # any data folder (either layout)

UPT is differentiable (``chunk_size=0``, ``solver="sinkhorn"``): gradients flow
through the Sinkhorn plan and the Karcher means (both implicitly) and slerp.
This example splits the classes in two: the *seen* half has labels, the
*unseen* half is the zero-shot task. On the seen half it learns, with Adam,

- one ``lam`` (the fraction of the geodesic travelled, through a sigmoid), and
- a shift ``b`` shared by every prototype, ``p' = normalize(p + b)`` (a
  correction of the semantic space that can transfer to other classes),

by minimising the cross-entropy of ``softmax(cos(video, UPT(p')) / T)`` on the
seen videos, with UPT run on the seen split only (its k-means centres are
computed once: they do not depend on the parameters). It then applies both to
the unseen half (transductive, no labels used) and prints top-1 for the
baseline, UPT at lam = 0.5, and UPT with the learned lam and shift.

The numbers depend on the data; on the synthetic worlds they show that the
gradients work, not how much such a correction helps on real features.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time

import numpy as np

__all__ = ["main", "learn"]


def _data(args):
    if args.data:
        from upt_jax import data

        ds = data.load_dataset(args.data)
        return np.asarray(ds.prototypes, np.float32), np.asarray(ds.videos, np.float32), np.asarray(ds.labels), list(ds.class_names)
    from upt_jax import world as W

    over = {} if args.n_videos is None else {"n_videos": args.n_videos}
    if args.seen_videos_per_class is not None:
        over["videos_per_seen_class"] = args.seen_videos_per_class
    w = W.generate_world(W.make_world_config(args.world, "default", seed=args.seed, **over), progress=True)
    return w.prototypes, w.videos, np.asarray(w.labels), list(w.class_names)


def learn(protos, videos, labels, seen, cfg, *, steps=50, lr=0.02, temperature=0.05, epsilon=0.01, seed=0,
          weight_decay=1e-3, progress=True):
    """Fit (lam, shift) on the seen classes; evaluate on the unseen ones.

    Args:
      protos: ``[K, d]``; videos: ``[N, d]``; labels: ``[N]``; seen: ``[K]``
        bool, the labelled classes.
      cfg: :class:`upt_jax.UPTConfig` (dense, Sinkhorn).

    Returns:
      dict with the learned ``lam``, ``shift_norm``, the loss curve and the
      top-1 table (seen and unseen split).
    """
    import jax
    import jax.numpy as jnp
    import optax
    from tqdm import tqdm

    import upt_jax as U

    protos, videos, labels = jnp.asarray(protos), jnp.asarray(videos), jnp.asarray(labels, jnp.int32)
    seen = jnp.asarray(seen)
    splits = {"seen": seen, "unseen": ~seen}
    vmask = {k: m[labels] for k, m in splits.items()}
    key = jax.random.PRNGKey(seed)
    cluster = jax.jit(U.cluster_videos, static_argnames="config")
    centres = {k: cluster(videos, cfg, key, vmask[k]) for k in splits}

    def moved(params, split):
        p = U.sphere.normalize(protos + params["shift"])
        hyper = U.UPTHyper(jax.nn.sigmoid(params["z"]), epsilon)
        return U.transport_update(p, centres[split], cfg, hyper, splits[split])

    def loss(params):
        new, _ = moved(params, "seen")
        logits = U.metrics.scores(new, videos, seen) / temperature
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=1), labels[:, None], axis=1)[:, 0]
        return jnp.sum(jnp.where(vmask["seen"], nll, 0.0)) / jnp.sum(vmask["seen"])

    params = {"z": jnp.zeros(()), "shift": jnp.zeros(protos.shape[1])}  # lam = 0.5, no shift
    opt = optax.adamw(lr, weight_decay=weight_decay)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    curve = []
    for _ in tqdm(range(steps), desc="learning lam and shift", file=sys.stderr, disable=not progress):
        params, state, value = step(params, state)
        curve.append(float(value))

    @functools.partial(jax.jit, static_argnames="split")
    def top1(params, split):
        new, diag = moved(params, split)
        return U.evaluate(new, videos, labels, class_mask=splits[split], video_mask=vmask[split]).top1, diag.converged

    start = {"z": jnp.zeros(()), "shift": jnp.zeros(protos.shape[1])}
    table = {}
    for split in splits:
        base = U.evaluate(protos, videos, labels, class_mask=splits[split], video_mask=vmask[split]).top1
        half, _ = top1(start, split)
        learned, conv = top1(params, split)
        table[split] = {"baseline": float(base), "upt_lam_0.5": float(half), "upt_learned": float(learned),
                        "transport_converged": bool(conv)}
    return {"lam": float(jax.nn.sigmoid(params["z"])), "shift_norm": float(jnp.linalg.norm(params["shift"])),
            "loss": curve, "top1": table}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="DIR", help="a data folder (either layout); default: generate --world")
    p.add_argument("--world", choices=("ucf101", "hmdb51"), default="ucf101", help="default world when no --data")
    p.add_argument("--n-videos", type=int, default=None, help="world size override (quick runs)")
    p.add_argument("--seen-videos-per-class", type=int, default=None, help="world training-set override (quick runs)")
    p.add_argument("--clusters", type=int, default=1000, help="k-means centres per split (default 1000; 0 = none)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--temperature", type=float, default=0.05, help="softmax temperature of the cosine scores")
    p.add_argument("--epsilon", type=float, default=0.01, help="Sinkhorn regularisation")
    p.add_argument("--seed", type=int, default=0, help="seed of the class split, k-means and the world")
    p.add_argument("--json", metavar="OUT", help="write the results and the configuration as JSON")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    import upt_jax as U

    t0 = time.perf_counter()
    protos, videos, labels, names = _data(args)
    k = len(protos)
    seen = np.zeros(k, bool)
    seen[np.random.default_rng(args.seed).permutation(k)[: k // 2]] = True
    n_seen_videos = int(seen[labels].sum())
    c = args.clusters if 0 < args.clusters < min(n_seen_videos, len(labels) - n_seen_videos) else 0
    cfg = U.UPTConfig(n_clusters=c, solver="sinkhorn")
    res = learn(protos, videos, labels, seen, cfg, steps=args.steps, lr=args.lr, temperature=args.temperature,
                epsilon=args.epsilon, seed=args.seed, progress=not args.no_progress)
    res["config"] = {**vars(args), "upt": cfg.as_dict(), "n_classes": k, "n_videos": len(labels),
                     "seen_classes": [names[i] for i in np.flatnonzero(seen)]}
    res["seconds"] = time.perf_counter() - t0
    print(f"learned lam = {res['lam']:.3f}, |shift| = {res['shift_norm']:.3f}, loss {res['loss'][0]:.3f} -> {res['loss'][-1]:.3f}")
    print("| split | baseline top-1 | UPT lam=0.5 | UPT learned |")
    print("|---|---|---|---|")
    for split, row in res["top1"].items():
        print(f"| {split} ({'labelled, trained on' if split == 'seen' else 'zero-shot'}) | {row['baseline']:.2f} | "
              f"{row['upt_lam_0.5']:.2f} | {row['upt_learned']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
