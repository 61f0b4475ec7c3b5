"""What judges, and what it is trained on. Four rooms:

- live judges behind the `harness.adapters.Adapter` interface: generative (`hf`, `openai`, `replay`,
  `scripted`) and scalar scorers (`pickscore`, `scores`), with checkpoint conversion (`convert_llava`);
- `reward.training`: reward-model fine-tuning (`sft`) and its unified preference dataset (`dataset`);
- `reward.testing`: test doubles (a local OpenAI-compatible server with injected faults, tiny models and
  checkpoints);
- `scoring_service`: a copy-me HTTP scoring service for the `scores` client."""
