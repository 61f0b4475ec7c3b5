"""Entry-point payloads of the `lmms_eval.models` group (declared in pyproject.toml).

lmms-eval 0.7 loads each entry point and accepts a callable returning a `ModelManifest`; the manifest
names the class by its import path, so lmms-eval imports `harness.lmms.models` (and with it our adapter)
only when the model is used. Import failures inside lmms-eval's entry-point loading are only logged as a
warning and the model then reads as "not found": `python -m harness.lmms.manifest` inside lmms-eval's
environment checks that both names resolve.
"""

from __future__ import annotations

from typing import Any

MODELS = {"ur_openai": "harness.lmms.models.UROpenAI", "ur_hf": "harness.lmms.models.URHF"}


def _manifest(name: str) -> Any:
    from lmms_eval.models.registry_v2 import ModelManifest  # only inside lmms-eval's environment

    return ModelManifest(model_id=name, simple_class_path=MODELS[name])


def ur_openai() -> Any:
    """Our `openai` judge adapter (any OpenAI-compatible endpoint) as the lmms-eval model `ur_openai`."""
    return _manifest("ur_openai")


def ur_hf() -> Any:
    """Our `hf` judge adapter (local transformers VLM) as the lmms-eval model `ur_hf`."""
    return _manifest("ur_hf")


def check() -> list[str]:
    """Each name as lmms-eval resolves it (raises when one is missing or does not import)."""
    from lmms_eval.models import get_model

    return [f"{name} -> {get_model(name).__module__}.{get_model(name).__name__}" for name in MODELS]


if __name__ == "__main__":
    print("\n".join(check()))
