"""``upt localize``: zero-shot spatio-temporal action localization of a localization folder.

    upt localize --data DIR [--lam L] [--top-objects N] [--object-transport paper|none] [--tubes K]
                 [--iou-weight W] [--max-dist PX] [--solver emd|sinkhorn] [--epsilon E] [--json OUT] [--out DIR]
                 [--strict]

Scores every person box for every action (actor score + the action's top
objects near the actor, weighed by their spatial prior), links boxes into K
tubes per video and action (exact Viterbi), classifies videos by their best
tube and reports video-mAP at ST-IoU 0.1 ... 0.8 and top-1, for the baseline
(lam = 0) and with UPT moving the action prototypes toward the detected
objects. ``--out DIR`` writes the UPT run's tubes (``DIR/tubes/<video>.npz``;
``--hdf5`` also the ICCV 2017 code's HDF5 layout, needs h5py).

``--json`` also holds the object transport's ``diagnostics`` with the names
of :func:`upt_jax.api.summarize_diagnostics` (``null`` without a transport).
When the transport or a Frechet mean did not converge, one warning line on
stderr names what; ``--strict`` then exits with code 3.
"""

from __future__ import annotations

import argparse

from upt_jax.cli import _localization

__all__ = ["register", "handler"]


def register(subparsers) -> None:
    p = subparsers.add_parser("localize", help="zero-shot action localization of a localization folder: baseline vs UPT, video-mAP",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="DIR", help="a localization folder (upt export / upt import-detections)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    p.add_argument("--out", metavar="DIR", help="write the tubes (UPT run) to DIR/tubes/")
    p.add_argument("--hdf5", action="store_true", help="with --out: also DIR/hdf5/<action>/<video>/tubes.hdf5 (needs h5py)")
    _localization.add_localization_arguments(p)
    p.set_defaults(func=handler)


def handler(args) -> int:
    return _localization.localize_command(args)
