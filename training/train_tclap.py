"""Fine-tune a CLAP into a T-CLAP (or train the plain-CLAP baseline) with Accelerate: the entry point.

    accelerate launch training/train_tclap.py --config training/configs/mini.yaml
    accelerate launch training/train_tclap.py --config mini --resume            # same, picking up the last checkpoint
    python -m tclap_gen.training.train_tclap --config smoke --set optim.max_steps=4
    tclap-gen train --config smoke --output-dir runs/smoke

The trainer itself is tclap_gen.trainers.tclap (its docstring describes the loop, checkpoints and resuming).
"""

import sys

from tclap_gen.trainers.tclap import main

if __name__ == "__main__":
    sys.exit(main())
