"""Data: the example code's folder, upt_jax's portable folder, and their checks.

* :func:`load_dataset` reads either layout (auto-detected) into a
  :class:`Dataset`; :func:`validate_folder` lists every problem of a folder.
* :func:`load_official` / :func:`write_official`: the example code's
  ``data/ucf-101/`` layout (``embeddings/``, ``objectscores/``, ``ot/``).
* :func:`load_portable` / :func:`save_portable`: our own folder of ``.npy``
  files plus ``meta.json``.

The layouts are documented in ``upt_jax/data/FORMAT.md``. All loaders raise
:class:`upt_jax.errors.DataError` listing every problem, each naming its file.
"""

from upt_jax.data.dataset import Dataset, check_dataset
from upt_jax.data.folders import FolderReport, detect_layout, inspect_folder, load_dataset, validate_folder
from upt_jax.data.official import (
    is_official,
    load_object_scores,
    load_official,
    validate_official,
    write_official,
)
from upt_jax.data.portable import is_portable, load_portable, save_portable, validate_portable

__all__ = [
    "Dataset",
    "check_dataset",
    "FolderReport",
    "detect_layout",
    "inspect_folder",
    "load_dataset",
    "validate_folder",
    "is_official",
    "load_official",
    "write_official",
    "validate_official",
    "load_object_scores",
    "is_portable",
    "load_portable",
    "save_portable",
    "validate_portable",
]
