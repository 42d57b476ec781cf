"""tclap_gen.audio: loading, resampling, mixdown, error messages, atomic writes, silence trimming."""

import csv
import os

import numpy as np
import pytest
import soundfile as sf

from tclap_gen import audio
from tclap_gen.audio import (
    AudioError,
    check_waveform,
    frame_rms_db,
    load_audio,
    resample,
    rms_db,
    save_audio,
    to_mono,
    trim_silence,
)


def tone(freq, sr, seconds, amplitude=0.5):
    t = np.arange(int(round(sr * seconds))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(wave, sr):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return np.fft.rfftfreq(wave.size, 1.0 / sr)[np.argmax(spectrum)]


# ---------------------------------------------------------------------------------------------- loading


def test_loads_the_real_flac_clips_with_their_listed_duration(clips_csv):
    with open(clips_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:4]:
        wave, sr = load_audio(clips_csv.parent / row["path"])
        assert sr == 16000
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert abs(wave.size / sr - float(row["seconds"])) < 1e-3
        assert 0.0 < np.abs(wave).max() <= 1.0


def test_stereo_is_mixed_down_or_kept(tmp_path):
    left, right = tone(440, 8000, 0.5, 0.4), tone(660, 8000, 0.5, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, sr = load_audio(path)
    assert sr == 8000 and mono.shape == left.shape
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (2, left.size)
    np.testing.assert_allclose(both[1], right, atol=1e-6)
    np.testing.assert_allclose(to_mono(both), mono, atol=1e-6)
    assert to_mono(mono) is mono  # 1-D stays as it is


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32"])
def test_integer_pcm_files_read_as_float_in_range(tmp_path, subtype):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, tone(440, 16000, 0.25, 0.9), 16000, subtype=subtype)
    wave, _ = load_audio(path)
    assert wave.dtype == np.float32
    assert 0.85 < np.abs(wave).max() <= 0.9 + 1e-3


def test_integer_arrays_are_scaled_by_their_type_range():
    np.testing.assert_allclose(check_waveform(np.array([-32768, 0, 16384], dtype=np.int16)), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(check_waveform(np.array([-(2**31), 2**30], dtype=np.int32)), [-1.0, 0.5])
    assert check_waveform(np.array([0.25], dtype=np.float64)).dtype == np.float32


# ---------------------------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("orig, target", [(44100, 16000), (16000, 22050), (48000, 16000), (8000, 48000)])
def test_resample_gives_the_exact_length_and_keeps_a_tone(orig, target):
    wave = tone(440, orig, 1.0)
    out = resample(wave, orig, target)
    assert out.dtype == np.float32
    assert out.size == target  # one second in, one second out
    assert abs(peak_frequency(out, target) - 440) <= 1.0
    # the level survives too (no gain change from the filter)
    assert abs(rms_db(out[target // 10 : -target // 10]) - rms_db(wave)) < 0.2


def test_resample_works_along_the_last_axis_and_rejects_bad_rates():
    stereo = np.stack([tone(440, 44100, 0.5), tone(880, 44100, 0.5)])
    out = resample(stereo, 44100, 16000)
    assert out.shape == (2, 8000)
    assert abs(peak_frequency(out[1], 16000) - 880) <= 2.0
    with pytest.raises(ValueError, match="positive"):
        resample(stereo, 0, 16000)


def test_load_audio_resamples_to_the_requested_rate(tmp_path):
    path = tmp_path / "tone.flac"
    sf.write(path, tone(440, 22050, 1.0), 22050, subtype="PCM_16")
    wave, sr = load_audio(path, sampling_rate=16000)
    assert sr == 16000 and wave.size == 16000
    assert abs(peak_frequency(wave, sr) - 440) <= 1.0


# ---------------------------------------------------------------------------------------------- errors


def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_audio(missing)


def test_garbage_bytes_raise_audio_error_naming_the_file(tmp_path):
    path = tmp_path / "corrupt.flac"
    path.write_bytes(b"this is not audio at all" * 40)
    with pytest.raises(AudioError, match="corrupt.flac"):
        load_audio(path)


def test_empty_audio_file_raises(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_waveforms_are_rejected(bad, tmp_path):
    wave = tone(440, 16000, 0.1)
    wave[10] = bad
    with pytest.raises(AudioError, match="NaN or Inf"):
        check_waveform(wave, name="my_wave")
    with pytest.raises(AudioError, match="out.wav"):
        save_audio(tmp_path / "out.wav", wave, 16000)
    assert not any(tmp_path.iterdir())  # nothing written


def test_empty_and_non_numeric_waveforms_are_rejected():
    with pytest.raises(AudioError, match="my_wave.*empty"):
        check_waveform(np.zeros(0, dtype=np.float32), name="my_wave")
    with pytest.raises(AudioError, match="empty"):
        check_waveform(np.zeros((2, 0), dtype=np.float32))
    with pytest.raises(AudioError, match="dtype"):
        check_waveform(np.array(["a", "b"]))
    with pytest.raises(AudioError, match="shape"):
        check_waveform(np.zeros((1, 2, 3), dtype=np.float32))


# ---------------------------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_save_round_trips_as_16_bit_and_leaves_no_temp_file(tmp_path, suffix):
    wave = tone(440, 16000, 0.5)
    path = save_audio(tmp_path / f"out{suffix}", wave, 16000)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]
    info = sf.info(path)
    assert info.subtype == "PCM_16" and info.samplerate == 16000
    back, _ = load_audio(path)
    np.testing.assert_allclose(back, wave, atol=1.0 / 32768 + 1e-6)


def test_save_clips_out_of_range_values_and_writes_channels(tmp_path):
    stereo = np.stack([np.full(100, 2.0, np.float32), np.full(100, -0.5, np.float32)])
    path = save_audio(tmp_path / "loud.wav", stereo, 8000)
    back, _ = load_audio(path, mono=False)
    assert back.shape == (2, 100)
    assert back[0].max() <= 1.0 and back[0].min() > 0.99
    np.testing.assert_allclose(back[1], -0.5, atol=1e-4)


def test_failed_write_keeps_the_existing_file_and_removes_the_temp(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    save_audio(path, tone(440, 16000, 0.2), 16000)
    before = path.read_bytes()

    def broken_write(file, data, samplerate, **kwargs):
        with open(file, "wb") as handle:  # a half-written file, then a crash
            handle.write(b"RIFF partial")
        raise OSError("disk full")

    monkeypatch.setattr(audio.sf, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_audio(path, tone(880, 16000, 0.4), 16000)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]


def test_save_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        save_audio(tmp_path / "out.mp3", tone(440, 16000, 0.1), 16000)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------- levels and trimming


def test_rms_db_levels():
    assert abs(rms_db(tone(440, 16000, 1.0, amplitude=1.0)) - (-3.0103)) < 0.01
    assert abs(rms_db(np.full(100, 0.1, np.float32)) - (-20.0)) < 1e-4
    assert rms_db(np.zeros(100, np.float32)) == pytest.approx(-100.0)
    with pytest.raises(AudioError):
        rms_db(np.zeros(0, np.float32))


def test_frame_levels_cover_a_short_last_frame():
    wave = np.concatenate([np.zeros(320, np.float32), np.full(100, 0.1, np.float32)])
    levels = frame_rms_db(wave, 16000, frame_ms=20)
    assert levels.shape == (2,)
    assert levels[0] < -90 and abs(levels[1] - (-20.0)) < 1e-3


def test_trim_silence_cuts_to_the_sound_within_a_frame():
    sr = 16000
    wave = np.zeros(sr * 2, np.float32)
    wave[5000:21000] = tone(300, sr, 1.0, 0.3)
    wave += np.random.default_rng(0).standard_normal(wave.size).astype(np.float32) * 1e-4  # -80 dB floor
    trimmed = trim_silence(wave, sr, threshold_db=-40, frame_ms=20)
    frame = 320
    assert 16000 <= trimmed.size <= 16000 + 2 * frame
    start = int(np.flatnonzero(np.isin(wave, trimmed[:1]))[0])
    assert 5000 - frame < start <= 5000


def test_trim_silence_threshold_is_relative_to_the_clip_peak():
    sr = 16000
    quiet = np.zeros(sr, np.float32)
    quiet[4000:8000] = tone(300, sr, 0.25, amplitude=0.001)  # a -63 dBFS sound is still a sound
    trimmed = trim_silence(quiet, sr)
    assert 4000 <= trimmed.size <= 4000 + 2 * 320
    # a -30 dB tail (relative to the peak) is kept at -40 dB, dropped at -20 dB
    wave = np.concatenate([tone(300, sr, 0.5, 0.5), tone(300, sr, 0.5, 0.5 * 10 ** (-30 / 20))])
    assert trim_silence(wave, sr, threshold_db=-40).size == wave.size
    assert trim_silence(wave, sr, threshold_db=-20).size <= sr // 2 + 320


def test_trim_silence_keeps_at_least_a_frame_of_silence_and_rejects_bad_input():
    silent = np.zeros(16000, np.float32)
    out = trim_silence(silent, 16000, frame_ms=20)
    assert out.size == 320 and not out.any()
    assert trim_silence(np.zeros(50, np.float32), 16000).size == 50
    click = np.zeros(16000, np.float32)
    click[8000] = 0.9
    assert 1 <= trim_silence(click, 16000).size <= 320
    with pytest.raises(AudioError, match="mono"):
        trim_silence(np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        trim_silence(np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="threshold_db"):
        trim_silence(silent, 16000, threshold_db=3)


def test_coloured_noise_has_unit_rms_and_the_asked_spectral_slope():
    from tclap_gen.audio import coloured_noise

    for slope in (0.0, 1.0, 2.0):
        noise = coloured_noise(2**16, slope, np.random.default_rng(0))
        assert noise.dtype == np.float32 and float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))) == pytest.approx(1.0, rel=1e-5)
        # the power per octave band falls by slope x 3 dB an octave: fit it over 8 octaves of band means
        power = np.abs(np.fft.rfft(noise.astype(np.float64))) ** 2
        edges = 2 ** np.arange(6, 15)  # bins 64 .. 16384
        band_db = [10 * np.log10(power[lo:hi].mean()) for lo, hi in zip(edges[:-1], edges[1:])]
        fitted = -np.polyfit(np.arange(len(band_db)), band_db, 1)[0] / (10 * np.log10(2))
        assert fitted == pytest.approx(slope, abs=0.1)
    assert coloured_noise(0, 1.0, np.random.default_rng(0)).size == 0


def test_level_and_loudest_excerpt():
    from tclap_gen.audio import level, loudest_excerpt

    rng = np.random.default_rng(0)
    noise = rng.standard_normal(16000).astype(np.float32)
    out = level(noise)
    assert rms_db(out) == pytest.approx(-20.0, abs=0.01) or np.abs(out).max() == pytest.approx(0.5, rel=1e-6)
    assert np.abs(out).max() <= 0.5 + 1e-6  # the peak bound wins over the RMS target for spiky sounds
    tone = (0.01 * np.sin(np.arange(16000) * 0.1)).astype(np.float32)
    assert rms_db(level(tone)) == pytest.approx(-20.0, abs=0.01)  # a sine's peak is 3 dB over its RMS: no clip
    np.testing.assert_array_equal(level(np.zeros(100, np.float32)), np.zeros(100, np.float32))  # silence stays
    wave = np.zeros(48000, np.float32)
    wave[20000:24000] = 0.5
    excerpt = loudest_excerpt(wave, 8000)
    assert excerpt.size == 8000 and float(np.sum(excerpt**2)) == pytest.approx(float(np.sum(wave**2)))
    assert loudest_excerpt(wave[:100], 8000).size == 100  # shorter: whole
