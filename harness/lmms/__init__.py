"""lmms-eval integration: our reward tasks as lmms-eval plugin tasks, our judges as lmms-eval models, and a
wrapper that runs lmms-eval's own downstream tasks and files the results as a harness run.

- `harness.lmms.bridge`: the plugin tasks `ur_vlrewardbench` and `ur_genai_bench_image`. Prompts, answer
  order, parsing and metrics are this project's code (tasks.*), so lmms-eval reports the numbers
  `harness run` reports on the same replies.
- `harness.lmms.include_path`: `python -m harness.lmms.include_path` prints the directory to pass to
  `lmms-eval --include_path`, or writes one for a local copy of the data / another seed.
- `harness.lmms.models`: `ur_openai` and `ur_hf`, registered through the `lmms_eval.models` entry point
  (`harness.lmms.manifest`). Imports lmms_eval, so only loadable inside lmms-eval's own environment.
- `harness.lmms.results` / `harness.lmms.run`: convert an lmms-eval results JSON into a run directory;
  run lmms-eval from its own Python (`run_lmms_eval`, `main` for the `harness lmms-eval` subcommand).

lmms-eval never shares our environment (it pulls torchvision, which breaks transformers' VLM imports
beside the CPU torch): everything here except `models` imports without it. See docs/lmms_eval.md.
"""
