#!/usr/bin/env bash
# Run 35 (1 thread): the shipped VAE's DECODER fine-tuned alone (vae.init + vae.decoder_only: the encoder and the
# scaling_factor stay, so the shipped UNets' latents are unchanged). The VAE was run 1's, 1,323 steps of a timeboxed
# recipe; through it the vocoder's held-out top-1 falls from 0.68 to 0.46. 2,000 steps of batch 8 on 2.56 s crops
# of the train side (a step of batch 32 costs about 21 s on one thread of these CPUs, batch 8 about 3 s), lr 2e-4
# (warmup 50, cosine). Resumes where it stopped (--resume).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage vae --data-root ../shared/data \
  --output-dir runs/run35/gen-mini --resume --set vae.init=tclap_gen/weights/mini --set vae.decoder_only=true \
  --set vae.steps=2000 --set vae.batch_size=8 --set vae.learning_rate=2e-4 --set vae.warmup_steps=50 --set vae.checkpoint_every=200 \
  --set vae.log_every=20 "$@"
