#!/usr/bin/env bash
cd /work/main
export HF_HUB_OFFLINE=1
while ! grep -q '"event": "saved"\|"stage": "unet", "event": "done"\|done.json' runs/run11/unet.log && [ ! -f runs/run11/gen-mini/unet/done.json ]; do sleep 15; done
export OMP_NUM_THREADS=2
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage assemble --output-dir runs/run11/gen-mini \
  --set unet.tclap=tclap_gen/weights/mini --set assemble.output=runs/run11/mini --fp16-weights > runs/run11/assemble.log 2>&1
.venv/bin/python scripts/fidelity.py --clips ../shared/data/kitchen20/metadata.csv ../shared/data/uiowa/metadata.csv \
  --pipelines runs/run11/mini --events 2 3 --layout --json-out runs/run11/fidelity.json > runs/run11/fidelity.txt 2> runs/run11/fidelity.err
echo JUDGED >> runs/run11/fidelity.txt
