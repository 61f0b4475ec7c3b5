"""DPO losses as small pure functions (paper Sec. 3.4), each returning (loss, metrics).

VLM DPO (Rafailov et al.):

    L = -E[ log σ( β · ( log π(y_w|x)/π_ref(y_w|x) - log π(y_l|x)/π_ref(y_l|x) ) ) ]

β sits inside the log-sigmoid. The paper's Eq. for understanding DPO writes β_u outside it,
`-E[β_u log σ(...)]`, a typo: with β outside, β only rescales the gradient and no longer sets how far the
policy may move from the reference. The released code (TRL DPOTrainer, loss "sigmoid") puts β inside.

Diffusion-DPO (Wallace et al.; the released train.py):

    mse_*   = mean over all non-batch dims of (ε_pred - ε)²            (per sample)
    Δ       = (mse_w - mse_l) - (ref_w - ref_l)
    L       = -E[ log σ( -0.5 · β · Δ ) ]

for a batch laid out as the winners stacked on the losers (first half preferred), where each winner and
its loser share one noise sample and one timestep. The paper's T·ω(λ_t) is the constant β_g (5000).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """Sigmoid DPO over summed log-probabilities of the completions (one value per pair).

    Metrics: implicit rewards r = β·(log π - log π_ref) of chosen and rejected, their margin, and the
    implicit reward accuracy (share of pairs with r_chosen > r_rejected).
    """
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)
    margins = chosen_rewards - rejected_rewards
    loss = -F.logsigmoid(margins).mean()
    return loss, {"rewards/chosen": chosen_rewards.mean().item(), "rewards/rejected": rejected_rewards.mean().item(),
                  "rewards/margin": margins.mean().item(), "rewards/accuracy": (margins > 0).float().mean().item()}


def diffusion_dpo_loss(model_pred: torch.Tensor, ref_pred: torch.Tensor, noise: torch.Tensor,
                       beta: float = 5000.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Diffusion-DPO on predictions for a batch of 2B: rows [0, B) winners, [B, 2B) their losers.

    `noise` is the target ε of every row (the caller draws one ε per pair and repeats it for both halves;
    the check below refuses a batch where winner and loser do not share it). Works for 4-D image latents
    (2B, C, H, W) and 5-D video latents (2B, C, F, H, W). Metrics: implicit accuracy (share of pairs
    whose Δ < 0, i.e. the policy improved the winner more than the loser relative to the reference), the
    mean Δ, and the mean squared errors of policy and reference.
    """
    if model_pred.shape != ref_pred.shape or model_pred.shape != noise.shape:
        raise ValueError("model_pred, ref_pred and noise must have one shape")
    if model_pred.shape[0] % 2:
        raise ValueError("the batch must stack winners on losers: an even number of rows")
    noise_w, noise_l = noise.chunk(2)
    if not torch.equal(noise_w, noise_l):
        raise ValueError("winner and loser must share one noise sample (repeat ε for both halves)")
    dims = tuple(range(1, model_pred.dim()))
    model_mse = (model_pred.float() - noise.float()).pow(2).mean(dim=dims)
    ref_mse = (ref_pred.float() - noise.float()).pow(2).mean(dim=dims)
    model_w, model_l = model_mse.chunk(2)
    ref_w, ref_l = ref_mse.chunk(2)
    delta = (model_w - model_l) - (ref_w - ref_l)
    inside = -0.5 * beta * delta
    loss = -F.logsigmoid(inside).mean()
    return loss, {"implicit_accuracy": (inside > 0).float().mean().item(), "delta": delta.mean().item(),
                  "model_mse": model_mse.mean().item(), "ref_mse": ref_mse.mean().item()}
