"""Preference construction (generate N -> pair rank -> point sift: `alignment.construct`) with text and
diffusers policies, DPO for VLMs (`dpo_vlm`) and Diffusion-DPO for image/video UNets (`diffusion_dpo`),
their losses as pure functions (`losses`), and prompt-set generation for downstream scoring (`generate`)."""
