"""The reward service (`harness serve`, issue 17): any judge of the harness behind HTTP, as the reward of online RL.

- `schema`: request bodies read into typed records; a malformed one is a `BadRequest` naming the field.
- `templates`: the judge family's prompt templates for each endpoint (pointwise / pairwise, image / video).
- `plan`: a request's items as judge requests, and the judges' replies combined into the items answered.
- `batcher`: the bounded queue and the batcher that coalesces items of many requests into batches of one
  `JudgeClient`.
- `metrics`: the counters behind `GET /metrics`.
- `app`: the aiohttp application, its start and graceful stop, and `ServiceThread` (in-process, for tests).
- `client`: `RewardClient` / `AsyncRewardClient`, the Python clients.
- `cli`: `harness serve`'s arguments and entry point.
- `engine`: the managed vLLM / SGLang engine behind `--engine`; `rewards`: ready reward functions for TRL,
  Flow-GRPO, verl and OpenRLHF, built on the client.

Nothing here is imported by `harness list` or `--help`; aiohttp is imported by `app` and by the client's
functions, only when a service or a client runs.
"""
