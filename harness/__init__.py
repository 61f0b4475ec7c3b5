"""Reference harness for multimodal reward models (UnifiedReward reproduction).

The core package imports no torch, transformers or diffusers at module level.
"""

__version__ = "0.1.0"
