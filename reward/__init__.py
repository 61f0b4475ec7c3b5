"""What judges: generative judges and scalar scorers behind the `harness.adapters.Adapter` interface
(replay, scripted; local transformers VLMs and OpenAI-compatible endpoints arrive with their issue),
plus, later, checkpoint conversion and reward-model training."""
