#!/usr/bin/env bash
# Run 37 (1 thread): run 35's decoder fine-tuned on with a GAN term (vae.adversarial_weight 0.1: the mel patch
# discriminator, least-squares GAN + feature matching x 2, discriminator lr 2e-4): 600 steps of batch 8 on 2.56 s
# crops of the train side, lr 1e-4 (warmup 20, cosine). The encoder and scaling_factor stay the shipped VAE's (run 35
# kept them). Judged by run35/judge_decoder.py like run 35. Resumes where it stopped (--resume).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage vae --data-root ../shared/data \
  --output-dir runs/run37/gen-mini --resume --set vae.init=runs/run35/gen-mini/vae/model --set vae.decoder_only=true \
  --set vae.adversarial_weight=0.1 --set vae.steps=600 --set vae.batch_size=8 --set vae.learning_rate=1e-4 \
  --set vae.warmup_steps=20 --set vae.checkpoint_every=100 --set vae.log_every=20 "$@"
