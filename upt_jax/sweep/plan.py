"""The plan of a sweep: every row, grouped into compiled batches of transports.

Vocabulary:

- a *row* is one (dataset, split, static variant, epsilon, lam): one line of
  ``results.jsonl``;
- a *job* is one (dataset, split, static variant, epsilon): ONE transport,
  shared by the rows of every lam;
- a *unit* is the jobs that one compiled program runs: one resolved static
  config, one epsilon (a vmapped Sinkhorn iterates until its slowest member
  converges, so epsilons are not mixed) and one *stack* of datasets (all
  datasets whose embedding dimension and resolved config agree, padded to
  common shapes; :func:`upt_jax.sweep.data.stack`).

Resolved configs can differ per dataset (``n_clusters="K"``, or C at least
the number of videos meaning no clustering); datasets then land in different
stacks. Units of one config and stack share one compilation (epsilon is
traced).
"""

from __future__ import annotations

import dataclasses

from upt_jax.sweep.store import row_key
from upt_jax.sweep.study import Study, Variant, cfg_hash

__all__ = ["Entry", "Job", "Unit", "Plan", "make_plan"]


@dataclasses.dataclass
class Entry:
    """One dataset of the study, resolved.

    Attributes:
      name: the row field ``dataset``.
      data: :class:`upt_jax.data.Dataset` (float32 arrays).
      checksum: :func:`upt_jax.sweep.data.data_checksum`.
      splits: :class:`upt_jax.protocols.Splits`.
      variants: the study's static variants resolved for this dataset.
    """

    name: str
    data: object
    checksum: str
    splits: object
    variants: list[Variant]

    @property
    def dim(self) -> int:
        return int(self.data.prototypes.shape[1])


@dataclasses.dataclass(frozen=True)
class Job:
    """One transport: ``member`` (position in the unit's stack), ``split``
    (index into that dataset's splits) and ``lams`` (indices of the lam
    values whose rows are still missing)."""

    member: int
    split: int
    lams: tuple


@dataclasses.dataclass
class Unit:
    """The jobs of one compiled program (see the module doc)."""

    variant: int
    config: object
    label: str
    overrides: dict
    cfg_hash: str
    epsilon: float | None
    members: tuple  # indices into Plan.entries
    jobs: list
    n_jobs: int  # jobs of the unit including those already done (fixes the chunk shape across resumes)


@dataclasses.dataclass
class Plan:
    """Every row of a study and what is left to compute.

    Attributes:
      entries: the resolved datasets.
      units: compiled batches, in run order (variant, stack, epsilon).
      rows_total, rows_done: rows of the study, rows already in the folder.
      lam: the study's lam grid.
      code: the code version rows are keyed by.
    """

    entries: list[Entry]
    units: list[Unit]
    rows_total: int
    rows_done: int
    lam: tuple
    code: str

    @property
    def jobs_todo(self) -> int:
        return sum(len(u.jobs) for u in self.units)


def make_plan(study: Study, entries: list[Entry], done: set, code: str, *, stack_datasets: bool = True) -> Plan:
    """Group the rows of ``study`` into units and drop the rows already done.

    Args:
      study: the study.
      entries: its datasets, resolved.
      done: row keys already in the output folder.
      code: the code version (part of every row key).
      stack_datasets: stack datasets that share dimension and config (False:
        one unit per dataset).

    Returns:
      :class:`Plan` (units with no job left are kept out).
    """
    lam = tuple(float(x) for x in study.lam)
    n_var = max(len(e.variants) for e in entries)
    units = []
    total = done_count = 0
    for vi in range(n_var):
        groups: dict[tuple, list[int]] = {}
        for ei, e in enumerate(entries):
            v = e.variants[vi]
            key = (e.dim, v.config) if stack_datasets else (e.dim, v.config, ei)
            groups.setdefault(key, []).append(ei)
        for members in groups.values():
            v = entries[members[0]].variants[vi]
            chash = cfg_hash(v.config, study)
            eps_grid = [None] if v.config.solver == "emd" else [float(x) for x in study.epsilon]
            for eps in eps_grid:
                jobs = []
                n_jobs = 0
                for m, ei in enumerate(members):
                    e = entries[ei]
                    for s, split in enumerate(e.splits.names):
                        n_jobs += 1
                        missing = []
                        for li, lv in enumerate(lam):
                            total += 1
                            if row_key(e.name, split, chash, lv, eps, e.checksum, code) in done:
                                done_count += 1
                            else:
                                missing.append(li)
                        if missing:
                            jobs.append(Job(m, s, tuple(missing)))
                if jobs:
                    units.append(Unit(vi, v.config, v.label, v.overrides, chash, eps, tuple(members), jobs, n_jobs))
    return Plan(entries, units, total, done_count, lam, code)
