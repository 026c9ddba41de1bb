"""Evaluation protocols as data: class splits stacked on one axis.

A protocol is a set of S *splits*. A split is a subset of the K classes (the
candidate classes of zero-shot classification) and the videos of those
classes. Splits are stored as boolean masks over the full class and video
axes, never as sliced arrays, so splits of different sizes stack on axis 0
and ``vmap`` over it:

- ``class_mask``: ``[S, K]`` bool, class k belongs to split s;
- ``video_mask``: ``[S, N]`` bool, video i belongs to split s (its label is a
  class of the split).

Protocols provided:

- :func:`all_classes`: one split with every class (the paper's "all classes
  unseen" setting);
- :func:`half_splits`: Brattoli et al. (CVPR 2020) random half-class splits,
  exactly as their evaluation code draws them: for seed ``s``,
  ``np.random.seed(s); np.random.permutation(K)[:K // 2]`` with NumPy's
  legacy generator, indexing the classes in ``np.unique(class_names)``
  (sorted name) order; we map the chosen names back to the dataset's own
  class order. 50 of UCF-101's 101 classes, 25 of HMDB-51's 51. Report the
  mean and the standard deviation over seeds 0..9 with :func:`spread` (std
  with ``ddof = 0``, as ``np.std``, which is what their numbers use);
- :func:`class_subsets`: any user-given list of class subsets (indices or
  names).

:func:`compact` turns the video masks into a padded gather index
``[S, M]`` (M = the largest split) so per-split work such as k-means costs
O(M) instead of O(N) per split. Everything here is NumPy (host side).

The legacy generator is used through ``np.random.RandomState(s)``: the same
sequence as ``np.random.seed(s)`` followed by the global functions (checked
in ``tests/test_protocols.py``), without touching the caller's global state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from upt_jax.errors import UPTError

__all__ = [
    "Splits",
    "all_classes",
    "half_split_classes",
    "half_splits",
    "class_subsets",
    "concat",
    "from_spec",
    "compact",
    "spread",
    "BRATTOLI_SEEDS",
    "SPREAD_NOTE",
]

BRATTOLI_SEEDS = tuple(range(10))
SPREAD_NOTE = "std, ddof = 0"


@dataclasses.dataclass(frozen=True)
class Splits:
    """S class splits as stacked masks (host NumPy arrays).

    Attributes:
      names: ``S`` split names, e.g. ``"all"``, ``"half:3"``, ``"subset:0"``.
      family: ``S`` protocol names, e.g. ``"all"``, ``"half"``, ``"subset"``
        (mean/std are reported per family).
      class_mask: ``[S, K]`` bool.
      video_mask: ``[S, N]`` bool.
    """

    names: tuple[str, ...]
    family: tuple[str, ...]
    class_mask: np.ndarray
    video_mask: np.ndarray

    def __post_init__(self):
        s = len(self.names)
        if len(self.family) != s or self.class_mask.shape[0] != s or self.video_mask.shape[0] != s:
            raise UPTError(
                f"Splits: {s} names, {len(self.family)} families, class_mask {list(self.class_mask.shape)} "
                f"and video_mask {list(self.video_mask.shape)} must agree on the number of splits"
            )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_classes(self) -> np.ndarray:
        """``[S]`` int, classes per split."""
        return self.class_mask.sum(axis=1)

    @property
    def n_videos(self) -> np.ndarray:
        """``[S]`` int, videos per split."""
        return self.video_mask.sum(axis=1)

    def take(self, index: Sequence[int]) -> "Splits":
        """The splits at ``index`` (in that order)."""
        idx = np.asarray(index, dtype=np.int64)
        return Splits(
            tuple(self.names[i] for i in idx),
            tuple(self.family[i] for i in idx),
            self.class_mask[idx],
            self.video_mask[idx],
        )


def _labels(labels, n_classes: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise UPTError(f"labels must be a [N] vector of class indices, got shape {list(lab.shape)}")
    lab = lab.astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
        raise UPTError(f"labels [{lab.size}] must lie in [0, {n_classes - 1}], got range [{lab.min()}, {lab.max()}]")
    return lab


def _from_class_masks(names, family, class_mask: np.ndarray, labels: np.ndarray) -> Splits:
    class_mask = np.asarray(class_mask, dtype=bool)
    video_mask = class_mask[:, labels] if labels.size else np.zeros((class_mask.shape[0], 0), bool)
    for name, cm, vm in zip(names, class_mask, video_mask):
        if cm.sum() < 2:
            raise UPTError(f"split {name!r} has {int(cm.sum())} class(es); a split needs at least 2")
        if vm.sum() < 1:
            raise UPTError(f"split {name!r} has no video among its {int(cm.sum())} classes; check the labels")
    return Splits(tuple(names), tuple(family), class_mask, video_mask)


def all_classes(labels, n_classes: int) -> Splits:
    """One split holding every class and every video.

    Args:
      labels: ``[N]`` int class index per video.
      n_classes: K.

    Returns:
      :class:`Splits` with S = 1, named ``"all"``.
    """
    lab = _labels(labels, n_classes)
    return _from_class_masks(("all",), ("all",), np.ones((1, n_classes), bool), lab)


def _class_names(class_names, where: str) -> list[str]:
    if class_names is None or isinstance(class_names, (int, np.integer)):
        raise UPTError(
            f"{where}: needs the dataset's class names (Brattoli's splits index the classes in np.unique(names) "
            f"order), got {class_names!r}; pass e.g. dataset.class_names"
        )
    names = [str(n) for n in class_names]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise UPTError(f"{where}: class names must be unique, {dup[:5]} repeat")
    return names


def half_split_classes(class_names: Sequence[str], seed: int) -> np.ndarray:
    """Brattoli et al.'s split ``seed``: sorted indices, in the dataset's class order, of ``K // 2`` classes.

    ``np.random.RandomState(seed).permutation(K)[:K // 2]`` (the same numbers
    as ``np.random.seed(seed); np.random.permutation(K)``) picks positions in
    ``np.unique(class_names)``; they are mapped back to the order of
    ``class_names``. The global NumPy random state is left untouched.

    Args:
      class_names: the K class names of the dataset, in its own order.
      seed: split seed (Brattoli et al. use 0..9).

    Returns:
      ``[K // 2]`` int64 class indices into ``class_names``, increasing.
    """
    names = _class_names(class_names, "half_split_classes")
    k = len(names)
    sorted_names = np.unique(np.asarray(names))  # the order Brattoli's permutation indexes
    chosen = sorted_names[np.random.RandomState(int(seed)).permutation(k)[: k // 2]]
    position = {n: i for i, n in enumerate(names)}
    return np.sort(np.asarray([position[str(n)] for n in chosen], np.int64))


def half_splits(labels, class_names: Sequence[str], seeds: Iterable[int] = BRATTOLI_SEEDS) -> Splits:
    """Brattoli et al.'s random half-class splits (see :func:`half_split_classes`).

    Args:
      labels: ``[N]`` int class index per video (into ``class_names``).
      class_names: the K class names in the dataset's order.
      seeds: split seeds (default 0..9).

    Returns:
      :class:`Splits` named ``"half:<seed>"``, family ``"half"``.
    """
    names = _class_names(class_names, "half_splits")
    n_classes = len(names)
    lab = _labels(labels, n_classes)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise UPTError("half_splits: seeds is empty; pass e.g. range(10)")
    cm = np.zeros((len(seeds), n_classes), bool)
    for i, s in enumerate(seeds):
        cm[i, half_split_classes(names, s)] = True
    return _from_class_masks([f"half:{s}" for s in seeds], ["half"] * len(seeds), cm, lab)


def spread(values) -> tuple[float, float]:
    """Mean and standard deviation over splits, std with ``ddof = 0`` (``np.std``, as Brattoli et al. report).

    Args:
      values: ``[S]`` one number per split (NaN not allowed).

    Returns:
      ``(mean, std)`` as floats; label the std "std, ddof = 0"
      (:data:`SPREAD_NOTE`).
    """
    a = np.asarray(values, np.float64).reshape(-1)
    if a.size == 0:
        raise UPTError("spread: no values")
    if not np.all(np.isfinite(a)):
        raise UPTError(f"spread: values must be finite, got {a.tolist()}")
    return float(a.mean()), float(a.std(ddof=0))


def class_subsets(
    labels,
    n_classes: int,
    subsets: Sequence[Sequence[int | str]],
    class_names: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    family: str = "subset",
) -> Splits:
    """User-given class subsets (indices or class names).

    Args:
      labels: ``[N]`` int class index per video.
      n_classes: K.
      subsets: S lists of class indices or class names.
      class_names: needed when subsets use names.
      names: optional S split names (default ``"subset:<i>"``).
      family: protocol name for the summary.

    Returns:
      :class:`Splits`.
    """
    lab = _labels(labels, n_classes)
    lookup = {str(n): i for i, n in enumerate(class_names)} if class_names is not None else None
    cm = np.zeros((len(subsets), n_classes), bool)
    for s, subset in enumerate(subsets):
        for c in subset:
            if isinstance(c, str):
                if lookup is None or c not in lookup:
                    raise UPTError(
                        f"subset {s}: unknown class name {c!r}"
                        + ("" if lookup is not None else "; pass class_names to use names")
                    )
                cm[s, lookup[c]] = True
            else:
                ci = int(c)
                if not 0 <= ci < n_classes:
                    raise UPTError(f"subset {s}: class index {ci} outside [0, {n_classes - 1}]")
                cm[s, ci] = True
    if names is None:
        names = [f"{family}:{i}" for i in range(len(subsets))]
    return _from_class_masks(list(names), [family] * len(subsets), cm, lab)


def concat(*parts: Splits) -> Splits:
    """Stack several protocols into one :class:`Splits` (same K and N)."""
    if not parts:
        raise UPTError("concat: nothing to stack")
    names = sum((p.names for p in parts), ())
    if len(set(names)) != len(names):
        raise UPTError(f"concat: duplicate split names {sorted(n for n in set(names) if names.count(n) > 1)}")
    return Splits(
        names,
        sum((p.family for p in parts), ()),
        np.concatenate([p.class_mask for p in parts], axis=0),
        np.concatenate([p.video_mask for p in parts], axis=0),
    )


def from_spec(spec, labels, n_classes: int, class_names: Sequence[str] | None = None) -> Splits:
    """Build splits from a protocol spec.

    Specs: ``"all"``; ``"half"`` (seeds 0..9); ``"half:N"`` (seeds 0..N-1);
    ``"half:a-b"`` (seeds a..b inclusive); ``"half:1,4,7"``; ``"a+b"`` stacks
    two specs (e.g. ``"half+all"``); a list of class lists is
    :func:`class_subsets`; a list/tuple of strings stacks the specs. Half
    splits need ``class_names`` (see :func:`half_split_classes`).
    """
    if isinstance(spec, str):
        if "+" in spec:
            return concat(*(from_spec(p, labels, n_classes, class_names) for p in spec.split("+")))
        head, _, arg = spec.partition(":")
        if head == "all" and not arg:
            return all_classes(labels, n_classes)
        if head == "half":
            if not arg:
                seeds = BRATTOLI_SEEDS
            elif "-" in arg:
                a, b = arg.split("-")
                seeds = range(int(a), int(b) + 1)
            elif "," in arg:
                seeds = [int(x) for x in arg.split(",")]
            else:
                seeds = range(int(arg))
            if class_names is not None and len(class_names) != n_classes:
                raise UPTError(f"protocol {spec!r}: {len(class_names)} class names for {n_classes} classes")
            return half_splits(labels, class_names, seeds)
        raise UPTError(
            f"protocol {spec!r} not understood; use 'all', 'half', 'half:10', 'half:0-4', 'half:1,3' or 'half+all'"
        )
    spec = list(spec)
    if spec and all(isinstance(p, str) for p in spec):
        return concat(*(from_spec(p, labels, n_classes, class_names) for p in spec))
    return class_subsets(labels, n_classes, spec, class_names)


def compact(video_mask: np.ndarray, multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Padded gather index of the videos of each split.

    Args:
      video_mask: ``[S, N]`` bool.
      multiple: round the padded length up to a multiple of this.

    Returns:
      ``(index [S, M] int32, mask [S, M] bool)`` with M the largest split
      (rounded up); row s lists split s's videos in increasing order, then
      pads with index 0 and ``mask = False``. ``videos[index]`` with ``mask``
      is split s padded to M.
    """
    vm = np.asarray(video_mask, bool)
    counts = vm.sum(axis=1)
    m = int(counts.max()) if counts.size else 0
    m = max(1, -(-m // multiple) * multiple)
    index = np.zeros((vm.shape[0], m), np.int32)
    mask = np.zeros((vm.shape[0], m), bool)
    for s in range(vm.shape[0]):
        idx = np.flatnonzero(vm[s])
        index[s, : idx.size] = idx
        mask[s, : idx.size] = True
    return index, mask
