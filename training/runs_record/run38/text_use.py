"""How much a UNet gets from the T-CLAP TEXT embedding of an example's caption, beside its audio embedding: the
diffusion loss (trainers.generator.condition_use, velocity objective) of 128 single clips and 128 mix-ups of run 38's
pool (built on run 28's T-CLAP, captions by the training templates) with their own audio embedding, their own
caption's text embedding, another example's and the "" embedding. Usage: text_use.py UNET_FOLDER [...]"""
import sys

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file

from tclap_gen.model import TClap
from tclap_gen.trainers.generator import UnetConfig, build_noise_scheduler, condition_use, unconditional_embedding

pool = load_file("runs/run38/gen-mini/unet/pool.safetensors")
n = 128
sets = {"singles": slice(0, n), "mix-ups": slice(-n, None)}  # the pool's first half is single clips
empty = unconditional_embedding(TClap.from_pretrained("training/runs_record/run28/tclap"))
alphas = build_noise_scheduler(UnetConfig(prediction_type="v_prediction")).alphas_cumprod
print("| UNet | examples | condition | own | another's | unconditional | gain (other / own - 1) |\n|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    unet = UNet2DConditionModel.from_pretrained(path).float().eval()
    for name, rows in sets.items():
        for kind in ("embeddings", "text_embeddings"):
            with torch.no_grad():
                use = condition_use(unet, pool["latents"][rows], pool[kind][rows], empty, alphas, "v_prediction")
            label = "audio" if kind == "embeddings" else "caption text"
            print(f"| {path} | {name} | {label} | {use['own']:.4f} | {use['other']:.4f} | {use['empty']:.4f} | {use['gain']:+.3f} |",
                  flush=True)
