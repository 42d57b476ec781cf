"""Exploration (issue 15, levels mixer): presence_margins.py with every scorer window brought to one loudness
before the audio tower (audio.level, -20 dBFS RMS, peak <= 0.5: the level training examples are brought to), the
boost capped at MAX_BOOST dB. The levels mixer puts one event 6-12 dB under the other; training segments are at
-20 dBFS with gains of -6..0 dB, so the quieter event lies partly outside what the audio tower saw. Levelling is a
scorer-side change: no training mix sees the levels mixer's range. Usage: levelled_margins.py MODEL OUT.npz MAX_BOOST"""
import runpy, sys
import numpy as np
from tclap_gen.audio import level
from tclap_gen.scoring import TemporalScorer
max_boost = float(sys.argv.pop(3))
original = TemporalScorer._forward_windows
def levelled(self, windows):
    out = []
    for w in windows:
        boosted = level(w, -20.0, 0.5)
        cap = 10 ** (max_boost / 20) * (np.abs(w).max() + 1e-12) / (np.abs(boosted).max() + 1e-12)
        out.append(boosted if cap >= 1 else (boosted * cap).astype(np.float32))
    return original(self, out)
TemporalScorer._forward_windows = levelled
runpy.run_path("training/runs_record/eval/session14_scorer/presence_margins.py", run_name="__main__")
