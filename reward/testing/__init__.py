"""Test doubles for the harness's own tests, benchmarks and demos; nothing here judges for real.

- `testserver`: a local OpenAI-compatible chat server with injected faults (`faults`: the options a test sets;
  `chat_requests`: what it validates and answers; `serve`: ``python -m reward.testing.serve``, its own process).
- `tiny_models`: toy VLM judges (16 px images, a toy tokenizer) built from configs in under a second.
- `tiny_checkpoints`: tiny judges with the real checkpoints' tokenizer, chat template and processor
  (`checkpoint_configs/`, copied verbatim from the hub; sources in its SOURCES.md).
"""
