"""Preference construction (generate N -> pair rank -> point sift) and DPO recipes for VLMs and
diffusion models. Empty until the preference-construction issue lands."""
