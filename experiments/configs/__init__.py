"""Ready studies; each module defines ``get_config()`` (and ``sweep()``)."""

__all__: list[str] = []
