"""Train the `mini` generator (VAE, vocoder, UNet on a T-CLAP's embeddings, then assemble): the entry point.

    python -m tclap_gen.training.train_generator --config generator-mini --stage all \
        --data-root ../shared/data --output-dir runs/gen --set unet.tclap=runs/tclap/final --resume

The stages themselves are tclap_gen.trainers.generator (its docstring describes each one and the layout on disk).
"""

import sys

from tclap_gen.trainers.generator import main

if __name__ == "__main__":
    sys.exit(main())
