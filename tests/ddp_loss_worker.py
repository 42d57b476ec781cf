"""Worker for tests/test_losses.py: one rank of a 2-process (gloo, CPU) check of the T-CLAP losses under DDP.

Launched by the test with
    python -m accelerate.commands.launch --multi_gpu --num_processes 2 ... tests/ddp_loss_worker.py --out F --seed S
Each rank holds half of a fixed global batch, runs it through a tiny projection model wrapped by
``accelerator.prepare`` (DDP) and backpropagates with ``accelerator.backward``. Rank 0 writes the global loss
values and the (DDP-averaged) gradients to F (safetensors). The test imports ``build_model``, ``make_batch`` and
``compute`` from this file to compute the single-process reference on the whole global batch.
"""

from __future__ import annotations

import argparse
import gc
import os

import torch
import torch.nn.functional as F
from torch import nn

from tclap_gen.losses import LossOutput, TClapLoss, contrastive_loss

AUDIO_FEATURES = 6
TEXT_FEATURES = 5
EMBED_DIM = 4
GLOBAL_BATCH = 8
VARIANTS = ("contrastive", "tclap", "grouped", "classed")


class TinyProjector(nn.Module):
    """Two linear towers and CLAP's two log-scales: just enough to carry gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_proj = nn.Linear(AUDIO_FEATURES, EMBED_DIM)
        self.text_proj = nn.Linear(TEXT_FEATURES, EMBED_DIM)
        self.logit_scale_a = nn.Parameter(torch.tensor(1.5))
        self.logit_scale_t = nn.Parameter(torch.tensor(2.0))

    def forward(self, audio_features: torch.Tensor, text_features: torch.Tensor):
        audio = F.normalize(self.audio_proj(audio_features), dim=-1)
        text = F.normalize(self.text_proj(text_features), dim=-1)
        return audio, text


def build_model(seed: int) -> TinyProjector:
    torch.manual_seed(seed)
    return TinyProjector()


def make_batch(seed: int) -> dict[str, torch.Tensor]:
    """Global batch of 8 pairs. Negatives are placed so that each half (rank) owns the same number of
    temporal terms (3), which makes the mean of the per-rank temporal losses equal the global one."""
    g = torch.Generator().manual_seed(seed + 1)
    # Text negatives: local samples 0 (two negatives) and 2 (one) of each half; audio negative: local sample 1.
    neg_owner = torch.tensor([0, 0, 2, 4, 4, 6])
    # Clip groups (same events): rows 0 and 4, and rows 2 and 3 and 6, hold the same classes; 0/4 and 2/6 cross ranks.
    groups = torch.tensor([10, 11, 12, 12, 10, 13, 12, 14])
    audio_neg_owner = torch.tensor([1, 5])
    # Single clips with a class (index into 3 class phrases), -1 for mix-ups: 2 rows on rank 0, 1 on rank 1.
    class_target = torch.tensor([0, -1, 2, -1, -1, 1, -1, -1])
    return {
        "audio": torch.randn(GLOBAL_BATCH, AUDIO_FEATURES, generator=g),
        "text": torch.randn(GLOBAL_BATCH, TEXT_FEATURES, generator=g),
        "neg_text": torch.randn(len(neg_owner), TEXT_FEATURES, generator=g),
        "neg_owner": neg_owner,
        "audio_neg": torch.randn(len(audio_neg_owner), AUDIO_FEATURES, generator=g),
        "audio_neg_owner": audio_neg_owner,
        "groups": groups,
        "class_target": class_target,
        "prompts": torch.randn(3, TEXT_FEATURES, generator=g),
    }


def shard(batch: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """This rank's contiguous slice of the global batch, negatives re-indexed to local owners."""
    n = GLOBAL_BATCH // world
    lo, hi = rank * n, (rank + 1) * n
    keep_t = (batch["neg_owner"] >= lo) & (batch["neg_owner"] < hi)
    keep_a = (batch["audio_neg_owner"] >= lo) & (batch["audio_neg_owner"] < hi)
    return {
        "audio": batch["audio"][lo:hi],
        "text": batch["text"][lo:hi],
        "neg_text": batch["neg_text"][keep_t],
        "neg_owner": batch["neg_owner"][keep_t] - lo,
        "audio_neg": batch["audio_neg"][keep_a],
        "audio_neg_owner": batch["audio_neg_owner"][keep_a] - lo,
        "groups": batch["groups"][lo:hi],
        "class_target": batch["class_target"][lo:hi],
        "prompts": batch["prompts"],
    }


def compute(model: nn.Module, batch: dict[str, torch.Tensor], accelerator, variant: str):
    """One forward (DDP allows one per backward) of positives and negatives together, then the loss."""
    b, m, p = len(batch["audio"]), len(batch["neg_text"]), len(batch["audio_neg"])
    audio_all, text_all = model(
        torch.cat([batch["audio"], batch["audio_neg"]]), torch.cat([batch["text"], batch["neg_text"], batch["prompts"]])
    )
    audio, audio_neg = audio_all[:b], audio_all[b : b + p]
    text, neg_text = text_all[:b], text_all[b : b + m]
    inner = model.module if hasattr(model, "module") else model
    scales = (inner.logit_scale_a, inner.logit_scale_t)
    if variant == "contrastive":
        return TClapLoss(temporal_weight=0.0)(audio, text, scales, accelerator=accelerator)
    if variant == "grouped":
        loss = contrastive_loss(audio, text, scales, accelerator=accelerator, groups=batch["groups"])
        return LossOutput(total=loss, contrastive=loss, temporal=loss * 0.0)
    if variant == "classed":  # the class-phrase term, with an uneven share of single clips across ranks
        layout = {"anchor_mask": torch.zeros(b, dtype=torch.bool), "negative_owner": batch["neg_owner"],
                  "audio_negative_owner": batch["audio_neg_owner"], "paraphrase_owner": batch["neg_owner"][:0],
                  "class_target": batch["class_target"]}
        return TClapLoss(temporal_weight=0.0, class_prompt_weight=1.0).batch_loss(audio_all, text_all, layout, scales,
                                                                                  accelerator=accelerator)
    return TClapLoss(temporal_weight=0.5)(
        audio, text, scales, neg_text_emb=neg_text, neg_owner=batch["neg_owner"],
        audio_neg_emb=audio_neg, audio_neg_owner=batch["audio_neg_owner"], accelerator=accelerator,
    )


def main() -> None:
    from accelerate import Accelerator
    from safetensors.torch import save_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="safetensors file that rank 0 writes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    accelerator = Accelerator(cpu=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    model = accelerator.prepare(build_model(args.seed))
    local = shard(make_batch(args.seed), rank, world)

    results = {"world_size": torch.tensor([world])}
    for variant in VARIANTS:
        model.zero_grad(set_to_none=True)
        out = compute(model, local, accelerator, variant)
        accelerator.backward(out.total)
        values = torch.stack([out.total, out.contrastive, out.temporal]).detach()
        # Each rank's loss is a mean over its (equal-sized) shard: the global loss is their mean.
        values = accelerator.gather(values[None]).mean(0)
        results[f"{variant}/total"] = values[0]
        results[f"{variant}/contrastive"] = values[1]
        results[f"{variant}/temporal"] = values[2]
        for name, param in accelerator.unwrap_model(model).named_parameters():
            results[f"{variant}/grad/{name}"] = param.grad.detach().clone()

    if accelerator.is_main_process:
        tmp = args.out + ".tmp"
        save_file({k: v.contiguous() for k, v in results.items()}, tmp)
        os.replace(tmp, args.out)
    # Release the DDP wrapper (its reducer holds the process group) before the group is destroyed, and destroy it on
    # both ranks after a barrier: tearing the gloo group down in another order can abort a rank at exit.
    del model
    accelerator.free_memory()  # the accelerator's own references to the prepared model
    gc.collect()
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
