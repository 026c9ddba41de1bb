"""``upt import-detections``: convert the ICCV 2017 code's per-frame detection files to a localization folder.

    upt import-detections --detections DIR --out DIR --dataset ucf-sports|jhmdb|ucf101-24 [--videos LIST] [--gt DIR]
    upt import-detections --detections DIR --out DIR --actions NAMES.txt --action-prototypes P.npy --videos LIST [--gt DIR]

DIR holds one folder per video (``<video>``, ``<video>.avi`` or the file stem)
of per-frame ``.npy`` files: rows are proposals, 81 class scores (background,
then the 80 MS-COCO classes; person = 1) followed by 81 x 4 class-specific
boxes. Per-class non-maximum suppression at IoU 0.5 as that code does. The
label of a video is the first component of its name (``diving/...``).
Ground truth (``--gt``): ``<video>.npy`` or ``.txt`` per video, rows
``frame x1 y1 x2 y2`` (one tube) or ``tube frame x1 y1 x2 y2``.
"""

from __future__ import annotations

import argparse

import numpy as np

from upt_jax.cli import _common
from upt_jax.errors import UPTError

__all__ = ["register", "handler"]


def register(subparsers) -> None:
    p = subparsers.add_parser("import-detections", help="convert ICCV 2017 per-frame detections to a localization folder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detections", required=True, metavar="DIR", help="folder of per-video folders of per-frame .npy files")
    p.add_argument("--out", required=True, metavar="DIR", help="the localization folder to write")
    p.add_argument("--dataset", choices=("ucf-sports", "jhmdb", "ucf101-24"), default=None,
                   help="take action names, prototypes and the test list from the shipped assets")
    p.add_argument("--videos", metavar="LIST", help="text file, one video name per line (default: the data set's test list)")
    p.add_argument("--actions", metavar="NAMES", help="text file of action names (instead of --dataset)")
    p.add_argument("--action-prototypes", metavar="P.npy", help="[A, 384] prototypes of --actions (upt embed-names)")
    p.add_argument("--gt", metavar="DIR", help="ground truth per video (<video>.npy or .txt)")
    p.add_argument("--stride", type=int, default=1, help="detections cover every STRIDE-th frame (default 1)")
    p.add_argument("--nms", type=float, default=0.5, help="per-class NMS threshold (default 0.5)")
    p.add_argument("--min-score", type=float, default=0.01, help="drop detections scoring below this (default 0.01)")
    p.add_argument("--max-persons", type=int, default=0, help="keep at most N person boxes per frame (0 = all)")
    p.add_argument("--max-objects", type=int, default=0, help="keep at most N object boxes per frame (0 = all)")
    p.add_argument("--no-person-objects", action="store_true", help="do not list person detections as objects of class person")
    p.add_argument("--frame-size", metavar="WxH", default=None, help="frame size (default: the largest box coordinate)")
    p.set_defaults(func=handler)


def handler(args) -> int:
    from upt_jax import text
    from upt_jax.localization import data as D
    from upt_jax.localization import world as W

    coco = W.load_assets("ucf-sports")
    if args.dataset:
        assets = W.load_assets(args.dataset)
        actions, protos, videos = assets["action_names"], assets["action_prototypes"], assets["test_videos"]
    else:
        if not (args.actions and args.action_prototypes and args.videos):
            raise UPTError("give --dataset, or all of --actions NAMES.txt, --action-prototypes P.npy and --videos LIST")
        actions = text.read_names(args.actions)
        protos = np.load(args.action_prototypes)
        if protos.shape != (len(actions), coco["object_prototypes"].shape[1]):
            raise UPTError(f"--action-prototypes {args.action_prototypes}: expected [{len(actions)}, "
                             f"{coco['object_prototypes'].shape[1]}] (one row per name, embedded like the shipped assets), got {list(protos.shape)}")
        videos = None
    if args.videos:
        videos = text.read_names(args.videos)
    size = None
    if args.frame_size:
        try:
            size = tuple(int(v) for v in args.frame_size.lower().split("x"))
            assert len(size) == 2
        except (ValueError, AssertionError):
            raise UPTError(f"--frame-size {args.frame_size!r}: expected WIDTHxHEIGHT, e.g. 320x240") from None
    with _common.Timer(f"importing {len(videos)} videos from {args.detections}"):
        data = D.import_iccv(args.detections, video_names=videos, action_names=actions, action_prototypes=protos,
                             object_names=coco["object_names"], object_prototypes=coco["object_prototypes"], priors=coco["priors"],
                             gt=args.gt, stride=args.stride, nms=args.nms, min_score=args.min_score, max_persons=args.max_persons,
                             max_objects=args.max_objects, person_as_object=not args.no_person_objects, frame_size=size,
                             name=args.dataset or "iccv2017", progress=True)
    D.save_localization(data, args.out)
    n_gt = sum(1 for v in data.videos if len(v.gt_boxes))
    print(f"wrote localization folder {args.out}: {len(actions)} actions, {len(data.videos)} videos "
          f"({n_gt} with ground truth), {sum(len(v.person_boxes) for v in data.videos)} person boxes, "
          f"{sum(len(v.object_boxes) for v in data.videos)} object boxes")
    return 0
