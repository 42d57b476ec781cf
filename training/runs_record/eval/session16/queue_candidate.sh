#!/bin/bash
# Candidate mini generator = run 32's UNet + run 35's decoder (the shipped encoder, T-CLAP and vocoder): waits for
# run 35 to finish, judges its final decoder (run35/judge_decoder.py), assembles the candidate (float16) and runs
# fidelity.py with 2- and 3-event prompts, with and without layout="auto" (same prompts and seeds as the shipped rows
# in session14_shipped/fidelity.md and run 32's in session15/run32_fidelity.md).
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session16; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
C=runs/session16/cand/gen-mini; PY=.venv/bin/python
until [ -f runs/run35/gen-mini/vae/done.json ]; do sleep 30; done
$PY training/runs_record/run35/judge_decoder.py runs/run35/gen-mini/vae/model/diffusion_pytorch_model.safetensors \
  >> training/runs_record/run35/judge.jsonl 2>/dev/null
mkdir -p $C && cp -r runs/run32/gen-mini/unet $C/ && rm -rf $C/unet/checkpoints $C/unet/pool.safetensors
cp -r runs/run35/gen-mini/vae $C/ && rm -rf $C/vae/checkpoints
$PY training/recipes/unpack_pipeline.py tclap_gen/weights/mini $C vocoder > $O/candidate_assemble.log 2>&1
$PY -m tclap_gen.training.train_generator --config generator-mini --stage assemble --data-root ../shared/data \
  --output-dir $C --fp16-weights --set seed=1 --set unet.tclap=training/runs_record/run28/tclap \
  --set unet.init=training/runs_record/run30/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=2400 --set unet.learning_rate=2e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
  --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set vae.init=tclap_gen/weights/mini \
  --set vae.decoder_only=true --set vae.steps=2000 --set vae.batch_size=8 --set vae.learning_rate=2e-4 \
  --set vae.warmup_steps=50 >> $O/candidate_assemble.log 2>&1  # the flags of runs 32 and 35: the pipeline's record
$PY scripts/fidelity.py --clips $K $U --pipelines $C/pipeline --events 2 3 --layout --json-out $O/candidate_fidelity.json \
  > $O/candidate_fidelity.md 2>$O/candidate_fidelity.err
echo done > $O/queue_candidate.DONE
