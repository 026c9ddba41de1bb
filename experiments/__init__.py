"""Studies (sweeps) of upt_jax: the runner (:mod:`experiments.run`) and ready configs."""

__all__: list[str] = []
