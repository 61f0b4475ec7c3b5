"""What judges and what it is trained on: generative judges (`hf`, `openai`, `replay`, `scripted`) and scalar
scorers (`pickscore`, `scores`) behind the `harness.adapters.Adapter` interface; checkpoint conversion
(`convert_llava`); the unified preference dataset (`reward.dataset`) and reward-model fine-tuning
(`reward.train`); tiny models and a local OpenAI-compatible server for tests and benchmarks."""
