"""Studies: what a sweep runs, loaded from a Python config file anywhere on disk.

A config file defines ``get_config()`` returning a :class:`Study` (or a dict
of its fields) and, optionally, ``sweep()`` returning the grids
(``{"static": [...], "lam": [...], "epsilon": [...]}``), which override the
study's fields. It imports only ``upt_jax`` (``from upt_jax.sweep import
Study``), so it runs from an installed package and from any folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
from typing import Any

import numpy as np

from upt_jax.errors import UPTError

__all__ = ["Study", "Variant", "load_study", "expand_static", "cfg_hash"]


@dataclasses.dataclass(frozen=True)
class Study:
    """A study: what to run (all fields are plain data, written to config.json).

    Attributes:
      name: study name (row field ``study``; default output ``runs/<name>``).
      datasets: dataset specs (see :func:`upt_jax.sweep.data.resolve_dataset`):
        ``"world:ucf101:default:seed=0"`` (a generated default world),
        ``"synthetic:K=12:N=240:d=16:seed=0"`` (a tiny blob world for tests),
        or a data folder path (either layout of
        :func:`upt_jax.data.load_dataset`; relative paths are taken from the
        config file's folder when they exist there, else from the current
        folder).
      protocol: split spec of :func:`upt_jax.protocols.from_spec`: ``"all"``,
        ``"half"`` (Brattoli's seeds 0..9), ``"half:3"``, ``"half+all"``, or
        a list of class subsets.
      base: base :class:`upt_jax.UPTConfig` as a dict of fields.
      static: static variants, each a dict of UPTConfig overrides; the
        strings ``"K"`` (classes per split) and ``"N"`` (no clustering) are
        accepted for ``n_clusters``. Empty = just ``base``.
      lam: traced grid of lam values (fraction of the geodesic travelled).
      epsilon: traced grid of Sinkhorn epsilons (EMD rows ignore it and
        record ``epsilon = None``).
      seed: k-means seed; split ``s`` uses ``fold_in(PRNGKey(seed),
        crc32(split name))``.
      chunk_rows: rows per compiled batch (the batch holds
        ``max(1, chunk_rows // len(lam))`` transports, padded to the device
        count).
      compact: gather each split's videos before k-means (halves k-means
        time on half splits); False clusters the full masked array, exactly
        as ``upt(..., video_mask=...)`` does.
      task: the row function, a name in :data:`upt_jax.sweep.tasks.TASKS`
        (``"classification"``).
      description: free text (shown in summary.md).
    """

    name: str = "study"
    datasets: tuple = ("world:ucf101:default:seed=0",)
    protocol: Any = "half"
    base: dict = dataclasses.field(default_factory=dict)
    static: tuple = ()
    lam: tuple = (0.5,)
    epsilon: tuple = (1e-2,)
    seed: int = 0
    chunk_rows: int = 128
    compact: bool = True
    task: str = "classification"
    description: str = ""
    grids: dict = dataclasses.field(default_factory=dict)  # further traced grids of a task (localization)

    def replace(self, **changes) -> "Study":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """The study as JSON-ready data."""
        d = dataclasses.asdict(self)
        d["datasets"] = [x if isinstance(x, str) else getattr(x, "name", "custom") for x in self.datasets]
        d["static"] = [dict(s) for s in self.static]
        d["lam"] = [float(x) for x in self.lam]
        d["epsilon"] = [float(x) for x in self.epsilon]
        d["protocol"] = self.protocol if isinstance(self.protocol, str) else [list(p) if not isinstance(p, str) else p for p in self.protocol]
        return d


def _module_from_file(path: str):
    name = "_upt_study_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UPTError(f"study config {path}: not a Python file; give a .py file that defines get_config()")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resolve_paths(datasets, folder: str) -> tuple:
    out = []
    for spec in datasets:
        if isinstance(spec, str) and not spec.startswith(("world:", "synthetic")) and not os.path.isabs(spec):
            cand = os.path.join(folder, spec)
            if os.path.exists(cand):
                spec = cand
        out.append(spec)
    return tuple(out)


def load_study(path: str, overrides: dict | None = None) -> Study:
    """Load ``get_config()`` (and the optional ``sweep()``) from a config file.

    Args:
      path: a ``.py`` file anywhere on disk, or an importable module name
        (``experiments.configs.lam`` from a checkout).
      overrides: optional :class:`Study` field overrides.

    Returns:
      :class:`Study`.

    Raises:
      FileNotFoundError: no such file.
      UPTError: the file defines no ``get_config()`` or returns something
        else than a Study.
    """
    if os.path.isfile(path):
        module = _module_from_file(path)
        folder = os.path.dirname(os.path.abspath(path))
    elif path.endswith(".py") or os.sep in path:
        raise FileNotFoundError(
            f"study config {path}: no such file; give a .py file that defines get_config() "
            "(the ready studies are experiments/configs/*.py of the source tree)"
        )
    else:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as err:
            raise FileNotFoundError(f"study config {path!r}: no such file or module ({err})") from None
        folder = os.getcwd()
    if not hasattr(module, "get_config"):
        raise UPTError(f"study config {path} defines no get_config(); see experiments/configs/smoke.py for a template")
    study = module.get_config()
    if isinstance(study, dict):
        study = Study(**study)
    if not isinstance(study, Study):
        raise UPTError(
            f"study config {path}: get_config() returned {type(study).__name__}; return upt_jax.sweep.Study(...)"
        )
    if hasattr(module, "sweep"):
        grids = dict(module.sweep())
        unknown = sorted(set(grids) - {f.name for f in dataclasses.fields(Study)})
        if unknown:
            raise UPTError(f"study config {path}: sweep() returned unknown keys {unknown}; use static, lam, epsilon")
        for k in ("static", "lam", "epsilon"):
            if k in grids:
                grids[k] = tuple(grids[k])
        study = study.replace(**grids)
    if overrides:
        study = study.replace(**overrides)
    study = study.replace(datasets=_resolve_paths(study.datasets, folder))
    _check(study, path)
    return study


def _check(study: Study, where: str) -> None:
    if not study.datasets:
        raise UPTError(f"study {study.name!r} ({where}): datasets is empty; name at least one dataset")
    if not study.lam:
        raise UPTError(f"study {study.name!r} ({where}): lam grid is empty; e.g. lam=(0.5,)")
    lam = np.asarray(study.lam, np.float64)
    if not np.all(np.isfinite(lam)) or lam.min() < 0 or lam.max() > 1:
        raise UPTError(f"study {study.name!r} ({where}): lam {list(study.lam)} must lie in [0, 1] (fraction travelled)")
    if len(set(float(x) for x in study.lam)) != len(study.lam):
        raise UPTError(f"study {study.name!r} ({where}): lam {list(study.lam)} has repeated values")
    eps = np.asarray(study.epsilon, np.float64)
    if eps.size == 0 or not np.all(eps > 0):
        raise UPTError(f"study {study.name!r} ({where}): epsilon {list(study.epsilon)} must be non-empty and > 0")
    if int(study.chunk_rows) < 1:
        raise UPTError(f"study {study.name!r} ({where}): chunk_rows must be >= 1, got {study.chunk_rows}")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One static variant of a study, resolved for one dataset.

    Attributes:
      config: the :class:`upt_jax.UPTConfig` (static: one compilation).
      overrides: the study's override dict it came from.
      label: short name for tables (the fields that vary between variants).
      index: position in the study's ``static`` list.
    """

    config: Any
    overrides: dict
    label: str
    index: int


def expand_static(study: Study, n_videos: int, split_classes) -> list[Variant]:
    """Resolve the static variants of a study for one dataset.

    ``"N"`` for ``n_clusters`` means no clustering (0); ``"K"`` the number of
    classes per split (all splits must have the same number); a C at least
    the number of videos also means no clustering.

    Args:
      study: the :class:`Study`.
      n_videos: N of the dataset.
      split_classes: ``[S]`` classes per split.

    Returns:
      list of :class:`Variant`, in the study's order.
    """
    import upt_jax as U
    from upt_jax.sweep.tasks import get_task

    base = (get_task(study.task).config_type or U.UPTConfig)(**dict(study.base))
    variants = list(study.static) or [{}]
    varying = sorted({k for v in variants for k in v if len({repr(w.get(k)) for w in variants}) > 1})
    out = []
    for i, v in enumerate(variants):
        over = dict(v)
        nc = over.get("n_clusters")
        if isinstance(nc, str):
            if nc == "N":
                over["n_clusters"] = 0
            elif nc == "K":
                ks = set(int(x) for x in np.asarray(split_classes).ravel())
                if len(ks) != 1:
                    raise UPTError(f"n_clusters='K' needs splits with one class count, got {sorted(ks)}")
                over["n_clusters"] = ks.pop()
            else:
                raise UPTError(f"n_clusters={nc!r}: use an int, 'K' or 'N'")
        cfg = base.replace(**over)
        if getattr(cfg, "n_clusters", 0) >= n_videos:  # a task config without clustering has no n_clusters
            cfg = cfg.replace(n_clusters=0)
        label = ",".join(f"{k}={v.get(k, getattr(base, k, None))}" for k in varying) or "base"
        out.append(Variant(cfg, dict(v), label, i))
    return out


def cfg_hash(cfg, study: Study) -> str:
    """12-hex identity of a resolved static config within a study (with the
    task, the k-means seed and the compact flag, which change the centres)."""
    blob = json.dumps(
        {"cfg": cfg.as_dict(), "seed": study.seed, "compact": study.compact, "task": study.task},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:12]
