#!/usr/bin/env bash
# Run 11's judgement (after run.sh): assemble the pipeline around the trained UNet, then the fidelity measurement.
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2
python -m tclap_gen.training.train_generator --config generator-mini --stage assemble --output-dir runs/run11/gen-mini \
  --set unet.tclap=tclap_gen/weights/mini --set assemble.output=runs/run11/mini --fp16-weights
python scripts/fidelity.py --clips ../shared/data/kitchen20/metadata.csv ../shared/data/uiowa/metadata.csv \
  --pipelines runs/run11/mini --events 2 3 --layout --json-out runs/run11/fidelity.json
