"""``upt export``: write a default world to a data folder (portable or the example code's layout).

    upt export --world ucf101 --preset default --out data/world-ucf101 [--layout portable|official] [--objects]
"""

from __future__ import annotations

from upt_jax.cli import _common, _localization

__all__ = ["register", "handler"]


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a generated world to a data folder", description=__doc__,
                              formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--world", choices=("ucf101", "hmdb51", "ucf-sports", "jhmdb", "ucf101-24"), default="ucf101",
                   help="classification world (ucf101, hmdb51) or localization world (ucf-sports, jhmdb, ucf101-24)")
    p.add_argument("--preset", choices=("clean", "default", "hard"), default="default")
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--layout", choices=("portable", "official"), default="portable")
    p.add_argument("--objects", action="store_true", help="include the generated object vocabulary and probabilities")
    _localization.add_world_arguments(p.add_argument_group("localization worlds (writes the portable localization folder)"))
    p.set_defaults(func=handler)


def handler(args) -> int:
    if args.world in _localization.WORLDS:
        return _localization.export_world(args)
    from upt_jax import data
    from upt_jax import world as W

    cfg = W.make_world_config(args.world, args.preset, seed=args.world_seed)
    with _common.Timer(f"generating the {args.world} world ({args.preset}, seed {args.world_seed})"):
        w = W.generate_world(cfg)
    if args.objects:
        from upt_jax import world_objects

        ds = world_objects.with_objects(w, seed=args.world_seed)
    else:
        ds = data.Dataset(
            name=args.world, class_names=list(w.class_names), prototypes=w.prototypes, videos=w.videos,
            labels=w.labels, video_names=list(w.video_names), object_names=None, object_prototypes=None,
            object_probs=None, targets={}, meta={"source": "upt_jax default world (synthetic)", "config": cfg.to_dict()},
        )
    if args.layout == "portable":
        data.save_portable(ds, args.out)
    else:
        data.write_official(ds, args.out, prefix=args.world)
    print(f"wrote {args.layout} folder {args.out}: {len(ds.class_names)} classes, {len(ds.labels)} videos"
          + (f", {ds.object_prototypes.shape[0]} objects" if args.objects else ""))
    return 0
