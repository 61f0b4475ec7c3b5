"""Reference harness for multimodal reward models (UnifiedReward reproduction).

The core package imports no torch, transformers or diffusers at module level.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "list_models", "list_tasks"]


def __getattr__(name: str):  # the API on first use, so `import harness` (and `harness list`) stay light
    if name in ("evaluate", "list_models", "list_tasks"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
