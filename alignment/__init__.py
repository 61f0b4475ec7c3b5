"""Preference construction (generate N -> pair rank -> point sift: `alignment.construct`) with text and
diffusers policies, DPO for VLMs (`dpo_vlm`, TRL's DPOTrainer) and Diffusion-DPO for image/video UNets (the recipe
`diffusion_dpo`; its maths `diffusion`, its diffusers/peft pieces `diffusion_models`, its pairs `diffusion_pairs`),
and prompt-set generation for downstream scoring (`generate`)."""
