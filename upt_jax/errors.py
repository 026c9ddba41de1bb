"""Error types of upt_jax.

Every error a user can cause is a ``ValueError`` subclass whose message names
the argument (or file), its shape, and how to fix it. The ``upt`` command turns
them into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

__all__ = ["UPTError", "DataError", "MissingDependencyError", "check_choices"]


class UPTError(ValueError):
    """Bad input to a upt_jax function (argument, shape or value)."""


class DataError(UPTError):
    """A data folder or file is missing, malformed or inconsistent."""


class MissingDependencyError(ImportError):
    """An optional dependency is needed; the message names the install command."""


def check_choices(config, choices: dict) -> None:
    """Raise :class:`UPTError` when a config field is not one of its allowed values.

    Args:
      config: a dataclass instance (its class name is used in the message).
      choices: field name -> tuple of allowed values.
    """
    owner = type(config).__name__
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise UPTError(f"{owner}.{name} must be one of {allowed}, got {value!r}")
