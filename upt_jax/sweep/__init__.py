"""Sweeps: a study (datasets x class splits x static choices x traced grids) as
a few compiled programs, resumable, sharded over devices.

Run one with ``upt sweep CONFIG.py --out DIR`` (or
``python -m upt_jax.sweep CONFIG.py``), or from Python::

    from upt_jax.sweep import load_study, run_study
    stats = run_study(load_study("my_study.py"), "runs/my_study")

Modules, by responsibility:

- :mod:`~upt_jax.sweep.study`: :class:`Study` and :func:`load_study` (a config
  file anywhere on disk), static variants;
- :mod:`~upt_jax.sweep.data`: dataset specs, checksums, stacking datasets of
  one dimension on one batch axis;
- :mod:`~upt_jax.sweep.centres`: k-means once per (dataset, split,
  clustering config), cached;
- :mod:`~upt_jax.sweep.plan`: rows, jobs (one transport each) and units (one
  compiled program each);
- :mod:`~upt_jax.sweep.tasks`: what a job computes (the task registry; the
  classification task);
- :mod:`~upt_jax.sweep.execute`: :func:`run_study`;
- :mod:`~upt_jax.sweep.store`: results on disk, resume, stale-row refusal;
- :mod:`~upt_jax.sweep.report`: summary tables and plots;
- :mod:`~upt_jax.sweep.cli`: the command-line options of ``upt sweep``.

The guide (study files, outputs, resuming, adding a task) is ``docs/sweeps.md``
of the source tree.
"""

from upt_jax.sweep.data import data_checksum, resolve_dataset, synthetic_data
from upt_jax.sweep.execute import SweepStats, run_study
from upt_jax.sweep.report import summary_table, write_plots, write_summary
from upt_jax.sweep.store import StaleResultsError, read_rows, row_key
from upt_jax.sweep.study import Study, expand_static, load_study
from upt_jax.sweep.tasks import TASKS, JobInputs, Task, register_task
from upt_jax.sweep import task_methods  # noqa: F401,E402  (registers the "methods" task)
from upt_jax.sweep import task_localization  # noqa: F401,E402  (registers the "localization" task)

__all__ = [
    "Study",
    "load_study",
    "expand_static",
    "resolve_dataset",
    "synthetic_data",
    "data_checksum",
    "run_study",
    "SweepStats",
    "read_rows",
    "row_key",
    "StaleResultsError",
    "summary_table",
    "write_summary",
    "write_plots",
    "TASKS",
    "Task",
    "JobInputs",
    "register_task",
]
