"""Reward-model training and what it trains on (paper Sec. 3.2).

- `dataset/`: the unified preference dataset: source converters, a manifest, `build` and `stats`
  (`harness build-reward-data`, `harness reward-data-stats`; docs/reward_data.md).
- `sft`: fine-tuning a VLM judge on that dataset (`harness train-reward`).
- `inputs`: records -> token ids, labels and vision inputs, built like the judges' inputs (also used by
  `alignment.dpo_vlm`).
- `common`: what every training recipe shares (dtype names, config checks, the resume rule, Trainer arguments).
"""
