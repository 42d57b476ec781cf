"""Audio I/O: read any file soundfile can, mix down to mono, resample with a polyphase filter, write atomically."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, or holding NaN/Inf."""


def check_waveform(wave, name: str = "audio") -> np.ndarray:
    """Return `wave` as float32, or raise AudioError naming `name` if it is empty or not finite.

    Integer PCM is scaled to [-1, 1] by its type's range.
    """
    array = np.asarray(wave)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max + 1)
    elif not np.issubdtype(array.dtype, np.floating):
        raise AudioError(f"{name}: expected a numeric waveform, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if array.ndim not in (1, 2):
        raise AudioError(f"{name}: expected a waveform of shape (samples,) or (channels, samples), got {array.shape}")
    if array.size == 0 or array.shape[-1] == 0:
        raise AudioError(f"{name}: the waveform is empty")
    if not np.isfinite(array).all():
        raise AudioError(f"{name}: the waveform holds NaN or Inf values")
    return array


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Average the channels of a (channels, samples) waveform; a 1-D waveform is returned as is."""
    wave = np.asarray(wave)
    return wave if wave.ndim == 1 else wave.mean(axis=0)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling along the last axis (exact rational ratio, no FFT wrap-around)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return np.asarray(wave, dtype=np.float32)
    ratio = Fraction(int(target_sr), int(orig_sr))
    out = resample_poly(np.asarray(wave, dtype=np.float32), ratio.numerator, ratio.denominator, axis=-1)
    return out.astype(np.float32, copy=False)


def load_audio(path, sampling_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read an audio file as float32: (samples,) when `mono`, else (channels, samples).

    With `sampling_rate`, the audio is resampled to it. Raises FileNotFoundError or AudioError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, TypeError... by format
        raise AudioError(f"{path}: cannot read audio ({error})") from error
    wave = check_waveform(data.T, name=str(path))  # (channels, samples)
    if mono:
        wave = to_mono(wave)
    if sampling_rate is not None and sampling_rate != sr:
        wave, sr = resample(wave, sr, sampling_rate), sampling_rate
    return wave, sr


def atomic_write(path, write_fn) -> Path:
    """Call write_fn(tmp_path) for a temporary file beside `path`, then rename it over `path`.

    A crash leaves the old file (or none) in place, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should read like any file the user writes
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_audio(path, wave, sampling_rate: int) -> Path:
    """Write 16-bit PCM (WAV or FLAC, by suffix) atomically; values are clipped to [-1, 1]."""
    wave = check_waveform(wave, name=str(path))
    data = np.clip(wave, -1.0, 1.0)
    data = data.T if data.ndim == 2 else data
    file_format = {".wav": "WAV", ".flac": "FLAC"}.get(Path(path).suffix.lower())
    if file_format is None:
        raise ValueError(f"{path}: unsupported audio suffix (use .wav or .flac)")
    return atomic_write(path, lambda tmp: sf.write(tmp, data, sampling_rate, subtype="PCM_16", format=file_format))


def rms_db(wave) -> float:
    """Root-mean-square level in dB relative to full scale (1.0); silence reads as -100 dB, not -inf."""
    array = np.asarray(wave, dtype=np.float32).ravel()
    if array.size == 0:
        raise AudioError("rms_db: the waveform is empty")
    return float(10.0 * np.log10(float(np.dot(array, array)) / array.size + 1e-10))


def level(wave, target_db: float = -20.0, max_peak: float = 0.5) -> np.ndarray:
    """`wave` (float32) scaled to an RMS of `target_db` dBFS, or less where the peak would pass `max_peak`: the one
    loudness every training example, mix-up segment and judged clip is brought to. Silence stays silence."""
    wave = np.asarray(wave, dtype=np.float32)
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) if wave.size else 0.0
    if rms < 1e-8:
        return wave.copy()
    scale = min(10.0 ** (target_db / 20.0) / rms, max_peak / float(np.abs(wave).max()))
    return (wave * scale).astype(np.float32)


def coloured_noise(samples: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """`samples` of Gaussian noise whose power falls as 1 / f**slope (0: white, 1: pink, 2: brown), unit RMS."""
    if samples <= 0:
        return np.zeros(0, dtype=np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequency = np.arange(spectrum.size, dtype=np.float64)
    frequency[0] = 1.0  # keep the DC bin finite; it is zeroed below
    spectrum *= frequency ** (-slope / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=samples)
    rms = float(np.sqrt(np.mean(noise**2)))
    return (noise / rms if rms > 0 else noise).astype(np.float32)


def loudest_excerpt(wave, samples: int, step: int = 160) -> np.ndarray:
    """The `samples`-long stretch of a mono `wave` holding the most energy (starts every `step` samples); a shorter
    wave comes back whole."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.size <= samples:
        return wave
    energy = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
    starts = np.arange(0, wave.size - samples + 1, step)
    start = int(starts[np.argmax(energy[starts + samples] - energy[starts])])
    return wave[start : start + samples]


def frame_rms_db(wave, sampling_rate: int, frame_ms: float = 20.0) -> np.ndarray:
    """RMS level in dB of consecutive non-overlapping frames of a 1-D waveform (the last frame may be short)."""
    return 10.0 * np.log10(_frame_mean_squares(wave, sampling_rate, frame_ms) + 1e-10)


def _frame_mean_squares(wave, sampling_rate: int, frame_ms: float) -> np.ndarray:
    array = np.asarray(wave, dtype=np.float32)
    if array.ndim != 1:
        raise AudioError(f"expected a mono waveform (samples,), got shape {array.shape}; use to_mono")
    frame = _frame_length(sampling_rate, frame_ms)
    squares = array * array
    full = array.size // frame
    means = squares[: full * frame].reshape(full, frame).mean(axis=1, dtype=np.float64)
    if array.size > full * frame:  # the short last frame: mean over its real samples
        means = np.append(means, squares[full * frame :].mean(dtype=np.float64))
    return means


def _frame_length(sampling_rate: int, frame_ms: float) -> int:
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    return max(1, int(round(sampling_rate * frame_ms / 1000.0)))


def trim_silence(wave, sampling_rate: int, threshold_db: float = -40.0, frame_ms: float = 20.0) -> np.ndarray:
    """Cut leading and trailing silence off a mono waveform.

    A frame is silent when its RMS is more than `-threshold_db` dB below the loudest frame's RMS (relative to
    the clip's own peak, so quiet recordings are not trimmed away). At least one frame is kept: an all-silent
    waveform returns its first frame instead of raising. Empty or non-finite input raises AudioError.
    """
    wave = check_waveform(wave, name="trim_silence")
    if wave.ndim != 1:
        raise AudioError(f"trim_silence: expected a mono waveform (samples,), got shape {wave.shape}; use to_mono")
    if threshold_db >= 0:
        raise ValueError(f"threshold_db must be negative (dB below the loudest frame), got {threshold_db}")
    frame = _frame_length(sampling_rate, frame_ms)
    power = _frame_mean_squares(wave, sampling_rate, frame_ms)
    if not power.max() > 0:
        return wave[:frame].copy()
    # Compared in the linear domain, so no dB floor decides for very quiet recordings.
    loud = np.flatnonzero(power >= power.max() * 10.0 ** (threshold_db / 10.0))
    return wave[loud[0] * frame : min(wave.size, (loud[-1] + 1) * frame)].copy()
