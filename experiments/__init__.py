"""Studies of upt_jax: ready sweep configs in ``configs/`` (run with ``upt sweep``; the runner is :mod:`upt_jax.sweep`)."""

__all__: list[str] = []
