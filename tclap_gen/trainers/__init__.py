"""The library behind the training entry points in training/: recipes as dataclasses (`config`), the T-CLAP
trainer (`tclap`) and the generator's stages (`generator`), with checkpoints and atomic writes in one place
(`checkpoints`). `training/` keeps the thin scripts, recipes, Accelerate files and run records."""
