"""Fine-tune a real AudioLDM's UNet on a T-CLAP's audio embeddings (VAE and vocoder frozen): the entry point.

    accelerate launch -m tclap_gen.training.finetune_audioldm --config audioldm-finetune \
        --set audioldm=cvssp/audioldm-s-full-v2 --set tclap=runs/tclap/final --output-dir runs/audioldm-tclap --resume

The recipe itself is tclap_gen.trainers.audioldm (its docstring says what each step does and how runs resume).
"""

import sys

from tclap_gen.trainers.audioldm import main

if __name__ == "__main__":
    sys.exit(main())
