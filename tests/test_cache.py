"""The judgment cache: a repeated run is free; any change of identity misses."""

from __future__ import annotations

import pytest

from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter

from .conftest import make_data_dir, row, write_image

ROWS = [row(f"wildvision_{i}", "wildvision-battle", query=f"Question {i}?") for i in range(20)]


@pytest.fixture
def data(tmp_path):
    return make_data_dir(tmp_path / "data", ROWS)


def judged(tmp_path, data, adapter, **kw):
    outcome = run(RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs",
                             bootstrap_resamples=10, **kw), adapter=adapter)
    assert outcome.adapter_calls == adapter.calls
    return outcome


def test_repeated_run_makes_no_adapter_call_and_gives_the_same_results(tmp_path, data):
    first = judged(tmp_path, data, ScriptedAdapter())
    assert (first.adapter_calls, first.cache_hits) == (20, 0)
    again = judged(tmp_path, data, ScriptedAdapter())
    assert (again.adapter_calls, again.cache_hits) == (0, 20)
    assert again.dir != first.dir
    assert again.results["tasks"]["vlrewardbench"]["metrics"] == first.results["tasks"]["vlrewardbench"]["metrics"]


def test_changed_model_id_misses(tmp_path, data):
    judged(tmp_path, data, ScriptedAdapter(model_id="judge-a"))
    other = judged(tmp_path, data, ScriptedAdapter(model_id="judge-b"))
    assert (other.adapter_calls, other.cache_hits) == (20, 0)


def test_changed_prompt_misses(tmp_path, data):
    judged(tmp_path, data, ScriptedAdapter())
    official = judged(tmp_path, data, ScriptedAdapter(), protocol="official")  # another template
    assert (official.adapter_calls, official.cache_hits) == (20, 0)
    reseeded = judged(tmp_path, data, ScriptedAdapter(), seed=1)  # swaps some answer orders
    assert reseeded.cache_hits + reseeded.adapter_calls == 20
    assert 0 < reseeded.adapter_calls < 20


def test_changed_image_content_misses(tmp_path, data):
    judged(tmp_path, data, ScriptedAdapter())
    write_image(data / ROWS[3]["image_path"], 999)  # same path, other pixels
    again = judged(tmp_path, data, ScriptedAdapter())
    assert (again.adapter_calls, again.cache_hits) == (1, 19)


def test_no_cache_neither_reads_nor_writes(tmp_path, data, private_cache):
    judged(tmp_path, data, ScriptedAdapter(), use_cache=False)
    assert not private_cache.exists()
    judged(tmp_path, data, ScriptedAdapter())
    third = judged(tmp_path, data, ScriptedAdapter(), use_cache=False)
    assert (third.adapter_calls, third.cache_hits) == (20, 0)


def test_failed_calls_are_not_cached(tmp_path, data):
    flaky = judged(tmp_path, data, ScriptedAdapter(fail_rate=0.5))
    failed = flaky.results["tasks"]["vlrewardbench"]["counts"]["n_error"]
    assert 0 < failed < 20
    healed = judged(tmp_path, data, ScriptedAdapter())
    assert (healed.adapter_calls, healed.cache_hits) == (failed, 20 - failed)


def test_the_key_from_its_prefix_equals_the_full_key():
    """Keys built from a per-run prefix are the keys `cache_key` gives, so existing caches keep hitting."""
    from harness.cache import cache_key, cache_key_prefix, key_with_prompt

    for identity, generation in (({"model": "scripted-v1"}, {"max_new_tokens": 8, "temperature": 0.0}),
                                 ({"model": "ünï", "z": [1, {"b": 2, "a": None}]}, {"top_p": 0.2, "seed": 3})):
        prompt = "ab" * 32
        assert key_with_prompt(cache_key_prefix("hf", identity, generation), prompt) == \
            cache_key("hf", identity, generation, prompt)
