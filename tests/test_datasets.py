"""tclap_gen.datasets: metadata layouts, leak-free splits, mix-ups, single clips, caption lists, collation."""

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tclap_gen.audio import rms_db
from tclap_gen.captions import parse_events
from tclap_gen.datasets import (
    label_to_phrase,
    CaptionDataset,
    ClipRecord,
    DatasetError,
    Event,
    MixupDataset,
    SingleClipDataset,
    TemporalExample,
    collate_examples,
    read_clip_metadata,
    split_by_fold,
    split_by_source,
)

SR = 16000
SECONDS = 4.0


@pytest.fixture(scope="module")
def records(clips_csv):
    return read_clip_metadata(clips_csv)


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n")
    return path


def spans_in_samples(example):
    sr = example.sampling_rate
    return [(int(round(e.onset * sr)), int(round(e.offset * sr))) for e in example.timeline]


# ---------------------------------------------------------------------------------------------- metadata


def test_generic_metadata_resolves_paths_next_to_the_csv(clips_csv, records):
    assert len(records) == 12
    first = records[0]
    expected = ClipRecord(clips_csv.parent / "uiowa_GlassSmash04.flac", "glass_smash", "1", "GlassSmash04", 1.95)
    assert first == expected
    assert all(r.path.is_file() for r in records)
    assert {r.label for r in records} == {"glass_smash", "bicycle_bell", "typing", "water_splash", "microwave", "drawer"}


def test_generic_metadata_optional_columns_and_audio_root(tmp_path):
    csv_path = write_csv(tmp_path / "list.csv", "label,path\ndog,a/dog.wav\ncat,/abs/cat.wav")
    records = read_clip_metadata(csv_path)
    assert records[0] == ClipRecord(tmp_path / "a" / "dog.wav", "dog", None, None, None)
    assert records[1].path == Path("/abs/cat.wav")  # absolute paths are kept
    moved = read_clip_metadata(csv_path, audio_root=tmp_path / "elsewhere")
    assert moved[0].path == tmp_path / "elsewhere" / "a" / "dog.wav"


@pytest.mark.parametrize("header, missing", [("path,fold\nx.wav,1", "label"), ("file,label\nx.wav,dog", "path")])
def test_missing_required_column_names_file_and_column(tmp_path, header, missing):
    csv_path = write_csv(tmp_path / "bad_meta.csv", header)
    with pytest.raises(ValueError, match=rf"bad_meta\.csv.*'{missing}'"):
        read_clip_metadata(csv_path)


def test_empty_required_value_names_the_line(tmp_path):
    csv_path = write_csv(tmp_path / "holes.csv", "path,label\na.wav,dog\nb.wav,")
    with pytest.raises(ValueError, match=r"holes\.csv, line 3.*'label'"):
        read_clip_metadata(csv_path)
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_clip_metadata(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="no clips"):
        read_clip_metadata(write_csv(tmp_path / "header_only.csv", "path,label"))


def test_esc50_layout(tmp_path):
    csv_path = write_csv(
        tmp_path / "ESC-50" / "meta" / "esc50.csv",
        """
filename,fold,target,category,esc10,src_file,take
1-100032-A-0.wav,1,0,dog,True,100032,A
1-100038-A-14.wav,1,14,chirping_birds,False,100038,A
5-9032-A-0.wav,5,0,dog,True,9032,A
""",
    )
    records = read_clip_metadata(csv_path)
    assert records[0] == ClipRecord(tmp_path / "ESC-50" / "audio" / "1-100032-A-0.wav", "dog", "1", "100032")
    assert [r.label for r in records] == ["dog", "chirping_birds", "dog"]
    assert [r.fold for r in records] == ["1", "1", "5"]
    train, test = split_by_fold(records, [5])
    assert [r.source_id for r in test] == ["9032"] and len(train) == 2


def test_urbansound8k_layout(tmp_path):
    csv_path = write_csv(
        tmp_path / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv",
        """
slice_file_name,fsID,start,end,salience,fold,classID,class
100032-3-0-0.wav,100032,0.0,0.317551,1,5,3,dog_bark
100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing
7383-3-0-0.wav,7383,0.0,4.0,1,1,3,dog_bark
""",
    )
    records = read_clip_metadata(csv_path)
    root = tmp_path / "UrbanSound8K" / "audio"
    assert records[0] == ClipRecord(root / "fold5" / "100032-3-0-0.wav", "dog_bark", "5", "100032")
    assert records[2].path == root / "fold1" / "7383-3-0-0.wav"
    assert records[1].label == "children_playing"


def test_uiowa_layout_derives_source_from_file_name(tmp_path):
    csv_path = write_csv(
        tmp_path / "uiowa" / "metadata.csv",
        """
path,label,group,seconds
audio/glass_smash/GlassSmash01.flac,glass_smash,high_intensity/either,1.5
audio/glass_smash/GlassSmash02.flac,glass_smash,high_intensity/either,2.0
audio/typing/typing01.flac,typing,low_intensity/either,3.25
""",
    )
    records = read_clip_metadata(csv_path)
    assert [r.source_id for r in records] == ["GlassSmash01", "GlassSmash02", "typing01"]
    assert records[2] == ClipRecord(tmp_path / "uiowa" / "audio" / "typing" / "typing01.flac", "typing", None,
                                    "typing01", 3.25)


# ---------------------------------------------------------------------------------------------- splits


def test_split_by_fold(records):
    train, test = split_by_fold(records, ["2"])
    assert len(train) == len(test) == 6
    assert {r.fold for r in test} == {"2"} and {r.fold for r in train} == {"1"}
    with pytest.raises(ValueError, match="folds present"):
        split_by_fold(records, [7])
    with pytest.raises(ValueError, match="no fold"):
        split_by_fold([ClipRecord(Path("x.wav"), "dog")], [1])


def synthetic_records(seed=0):
    rng = random.Random(seed)
    records = []
    for label, sources in [("dog", 6), ("cat", 5), ("car", 2), ("lonely", 1)]:
        for s in range(sources):
            for take in range(rng.randint(1, 4)):  # several clips per recording
                records.append(ClipRecord(Path(f"{label}-{s}-{take}.wav"), label, None, f"{label}{s}"))
    records.append(ClipRecord(Path("orphan.wav"), "dog"))  # no source_id: its own recording
    return records


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_by_source_never_straddles_and_stratifies(seed):
    records = synthetic_records(seed)
    train, test = split_by_source(records, test_fraction=0.3, seed=seed)
    assert sorted(map(str, train + test)) == sorted(map(str, records))
    train_sources = {r.source_id for r in train}
    assert not train_sources & {r.source_id for r in test}
    for label in ("dog", "cat", "car"):  # every label with >= 2 sources is on both sides
        assert any(r.label == label for r in train) and any(r.label == label for r in test)
    assert all(r.label != "lonely" for r in test)
    assert train == [r for r in records if r in train]  # input order kept
    assert split_by_source(records, 0.3, seed) == (train, test)


def test_split_by_source_depends_on_seed_and_fraction(records):
    splits = {tuple(str(r.path) for r in split_by_source(synthetic_records(), 0.3, seed)[1]) for seed in range(6)}
    assert len(splits) > 1
    small = split_by_source(synthetic_records(), 0.1, 0)[1]
    large = split_by_source(synthetic_records(), 0.6, 0)[1]
    assert len({r.source_id for r in small}) < len({r.source_id for r in large})
    train, test = split_by_source(records, 0.5, seed=0)
    assert len(test) == 6 and len({r.label for r in test}) == 6
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_source(records, 1.0, 0)


# ---------------------------------------------------------------------------------------------- mix-ups


def test_mixup_items_are_deterministic_by_seed_and_index(records):
    a = MixupDataset(records, SR, SECONDS, length=20, seed=3)
    b = MixupDataset(records, SR, SECONDS, length=20, seed=3)
    first = [a[i] for i in (0, 1, 2)]
    again = [b[i] for i in (2, 1, 0)][::-1]  # another object, another access order
    for x, y in zip(first, again):
        assert np.array_equal(x.audio, y.audio)
        assert x.caption == y.caption and x.negatives == y.negatives and x.labels == y.labels
        assert all(np.array_equal(p, q) for p, q in zip(x.audio_negatives, y.audio_negatives))
    assert not np.array_equal(first[0].audio, first[1].audio)
    assert len({x.caption for x in first}) == 3
    other_seed = MixupDataset(records, SR, SECONDS, length=20, seed=4)[0]
    assert not np.array_equal(other_seed.audio, first[0].audio)
    a.set_epoch(1)
    assert not np.array_equal(a[0].audio, first[0].audio)
    a.set_epoch(0)
    assert np.array_equal(a[0].audio, first[0].audio)


def test_mixup_example_shape_labels_and_caption(records):
    dataset = MixupDataset(records, SR, SECONDS, num_events=(2, 3), length=24, seed=0)
    counts = set()
    for i in range(len(dataset)):
        example = dataset[i]
        assert isinstance(example, TemporalExample)
        assert example.audio.dtype == np.float32 and example.audio.shape == (int(SR * SECONDS),)
        assert np.isfinite(example.audio).all() and np.abs(example.audio).max() <= 1.0
        assert len(set(example.labels)) == len(example.labels) in (2, 3)
        counts.add(len(example.labels))
        phrases = [label_to_phrase(label) for label in example.labels]
        assert [e.phrase for e in example.timeline] == phrases
        assert [e.label for e in example.timeline] == example.labels
        assert parse_events(example.caption).events == phrases  # the caption states the timeline's order
        assert len(example.negatives) == {2: 1, 3: 5}[len(phrases)]
        for negative in example.negatives:
            events = parse_events(negative).events
            assert sorted(events) == sorted(phrases) and events != phrases
        assert len(example.audio_negatives) == len(example.negatives)
    assert counts == {2, 3}


def test_timeline_marks_where_the_audio_is_not_silent(records):
    dataset = MixupDataset(records, SR, SECONDS, length=12, seed=1)
    for i in range(len(dataset)):
        example = dataset[i]
        spans = spans_in_samples(example)
        inside = np.zeros(example.audio.size, dtype=bool)
        for k, (start, end) in enumerate(spans):
            assert 0 <= start < end <= example.audio.size
            inside[start:end] = True
            segment = example.audio[start:end]
            assert rms_db(segment) > -45.0  # levelled to about -20 dBFS, then at most 6 dB down
            assert np.abs(segment[:480]).max() > 0 and np.abs(segment[-480:]).max() > 0  # trimmed edges
            if k:
                assert start > spans[k - 1][0] and end > spans[k - 1][1]  # events follow each other
        assert not example.audio[~inside].any()  # gaps, lead-in and padding are silent


def test_audio_negatives_are_the_same_segments_in_the_other_order(records):
    # Gaps only (no crossfade), so segments can be compared sample by sample.
    dataset = MixupDataset(records, SR, SECONDS, length=16, seed=2, crossfade_probability=0.0)
    seen_three = False
    for i in range(len(dataset)):
        example = dataset[i]
        spans = spans_in_samples(example)
        segments = [example.audio[s:e] for s, e in spans]
        gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
        assert all(g > 0 for g in gaps)
        phrases = [e.phrase for e in example.timeline]
        if len(segments) == 2:
            expected = np.zeros_like(example.audio)
            lead = spans[0][0]
            b, a = segments[1], segments[0]
            expected[lead : lead + b.size] = b
            expected[lead + b.size + gaps[0] : lead + b.size + gaps[0] + a.size] = a
            assert np.array_equal(example.audio_negatives[0], expected)
        for negative, wave in zip(example.negatives, example.audio_negatives):
            order = [phrases.index(p) for p in parse_events(negative).events]
            expected = np.zeros_like(example.audio)
            position = spans[0][0]
            for k, index in enumerate(order):
                expected[position : position + segments[index].size] = segments[index]
                position += segments[index].size + (gaps[k] if k < len(gaps) else 0)
            assert np.array_equal(wave, expected)  # paired with the text negative's order
        seen_three |= len(segments) == 3
    assert seen_three


def test_audio_negatives_with_crossfades_swap_the_segments(records):
    dataset = MixupDataset(records, SR, SECONDS, num_events=(2, 2), length=8, seed=5, crossfade_probability=1.0,
                           crossfade_s=(0.05, 0.1))
    for i in range(len(dataset)):
        example = dataset[i]
        (a_start, a_end), (b_start, b_end) = spans_in_samples(example)
        fade = a_end - b_start
        assert fade > 0  # the segments overlap
        [negative] = example.audio_negatives
        assert negative.shape == example.audio.shape and np.abs(negative).max() <= 1.0
        # away from the faded edges, each segment is unchanged: B now starts at the lead-in, A follows it
        b_size, a_size = b_end - b_start, a_end - a_start
        lead = a_start
        np.testing.assert_array_equal(negative[lead + fade : lead + b_size - fade],
                                      example.audio[b_start + fade : b_end - fade])
        a_new = lead + b_size - fade
        np.testing.assert_array_equal(negative[a_new + fade : a_new + a_size - fade],
                                      example.audio[a_start + fade : a_end - fade])
        assert not negative[: a_start].any() and not negative[a_new + a_size :].any()


def test_phrase_overrides_and_bad_phrases(records):
    dataset = MixupDataset(records, SR, SECONDS, length=30, seed=0, phrases={"typing": "keys clacking"})
    captions = [dataset[i] for i in range(30)]
    with_typing = [e for e in captions if "typing" in e.labels]
    assert with_typing and all("keys clacking" in e.caption for e in with_typing)
    with pytest.raises(ValueError, match="typing"):
        MixupDataset(records, SR, SECONDS, phrases={"typing": "keys then clicks"})


def test_mixup_argument_checks(records):
    with pytest.raises(ValueError, match="num_events"):
        MixupDataset(records, SR, SECONDS, num_events=(1, 2))
    two_classes = [r for r in records if r.label in ("typing", "drawer")]
    with pytest.raises(ValueError, match="distinct classes"):
        MixupDataset(two_classes, SR, SECONDS, num_events=(2, 3))
    with pytest.raises(ValueError, match="under 0.1 s"):
        MixupDataset(records, SR, 0.5, num_events=(3, 3))
    with pytest.raises(ValueError, match="empty"):
        MixupDataset([], SR, SECONDS)
    with pytest.raises(IndexError):
        MixupDataset(records, SR, SECONDS, length=3)[3]


def with_bad_files(records, tmp_path):
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"\x00garbage, not audio" * 64)
    bad = [ClipRecord(tmp_path / "missing.flac", "dog_bark"), ClipRecord(corrupt, "car_horn")]
    return bad + list(records[:6]), bad


def test_missing_and_corrupt_clips_are_skipped_logged_and_counted(records, tmp_path, caplog):
    mixed, bad = with_bad_files(records, tmp_path)
    dataset = MixupDataset(mixed, SR, SECONDS, num_events=(2, 2), length=40, seed=0)
    reference = MixupDataset(mixed, SR, SECONDS, num_events=(2, 2), length=40, seed=0)
    with caplog.at_level(logging.WARNING, logger="tclap_gen.datasets"):
        examples = [dataset[i] for i in range(len(dataset))]
    for example in examples:
        assert set(example.labels) <= {"glass_smash", "bicycle_bell", "typing"}
    assert set(dataset.bad_files) == {r.path for r in bad}
    assert sum(dataset.bad_files.values()) >= 2
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "missing.flac" in logged and "corrupt.flac" in logged
    # a bad file is logged once, then only counted
    assert sum("corrupt.flac" in record.getMessage() for record in caplog.records) == 1
    # what failed before does not change later items: a fresh copy accessed in reverse agrees
    for i in (39, 7, 0):
        assert np.array_equal(reference[i].audio, examples[i].audio)


def test_too_many_bad_files_raise_a_clear_error(tmp_path):
    bad = [ClipRecord(tmp_path / f"gone{k}.flac", f"class{k}") for k in range(3)]
    dataset = MixupDataset(bad, SR, SECONDS, num_events=(2, 2), length=2, max_retries=5)
    with pytest.raises(DatasetError, match=r"6 clips failed.*gone"):
        dataset[0]
    single = SingleClipDataset(bad, SR, SECONDS, max_retries=3)
    with pytest.raises(DatasetError, match="item 1"):
        single[1]


def test_cache_gives_identical_items(records):
    # 22.05 kHz: resampled clips are not 16-bit values, so this checks the cache's rounding is always applied
    plain = MixupDataset(records, 22050, 2.0, length=6, seed=9)
    cached = MixupDataset(records, 22050, 2.0, length=6, seed=9, cache_mb=64)
    for _ in range(2):  # the second pass reads from the cache
        for i in range(len(plain)):
            assert np.array_equal(plain[i].audio, cached[i].audio)
    assert len(cached._cache) > 0


def test_mixups_carry_a_paraphrase_with_the_same_order_and_collate_it(records):
    from tclap_gen.captions import parse_events

    dataset = MixupDataset(records, SR, SECONDS, length=12, seed=4)
    examples = [dataset[i] for i in range(len(dataset))]
    for example in examples:
        assert example.paraphrase != example.caption and example.paraphrase not in example.negatives
        assert parse_events(example.paraphrase).events == parse_events(example.caption).events
    batch = collate_examples(examples[:3] + [SingleClipDataset(records, SR, SECONDS)[0]])
    assert batch["paraphrases"] == [e.paraphrase for e in examples[:3]]
    assert batch["paraphrase_owner"].tolist() == [0, 1, 2]  # the single clip has neither negatives nor paraphrase


def test_preload_fills_the_cache_once_and_skips_bad_files(records, tmp_path):
    records, _ = with_bad_files(records, tmp_path)
    plain = MixupDataset(records, 22050, 2.0, length=6, seed=9)
    mixup = MixupDataset(records, 22050, 2.0, length=6, seed=9, cache_mb=64)
    good = {r.path for r in records if r.path.name not in ("missing.flac", "corrupt.flac")}
    assert mixup.preload() == len(good)
    assert set(mixup._cache) == good and set(mixup._bad_reasons) == {r.path for r in records} - good
    single = SingleClipDataset(records, 22050, 2.0, cache_mb=64)
    single.preload(source=mixup)
    assert all(single._cache[path] is mixup._cache[path] for path in good)  # shared, not decoded again
    for i in range(len(plain)):
        assert np.array_equal(plain[i].audio, mixup[i].audio)
    assert MixupDataset(records, 22050, 2.0, length=6, seed=9, cache_mb=0.1).preload() < len(good)  # budget holds


def test_dataloader_workers_give_the_same_items(records):
    dataset = MixupDataset(records, SR, 2.0, length=4, seed=11)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_examples)
    batches = list(loader)
    for b, batch in enumerate(batches):
        for k in range(2):
            direct = dataset[2 * b + k]
            assert np.array_equal(batch["audio"][k], direct.audio)
            assert batch["captions"][k] == direct.caption


# ---------------------------------------------------------------------------------------------- single clips


def test_single_clip_dataset(records, tmp_path):
    dataset = SingleClipDataset(records, SR, 3.0, seed=0)
    assert len(dataset) == len(records)
    templates = set()
    for i in range(len(dataset)):
        example = dataset[i]
        record = records[i]
        assert example.labels == [record.label] and example.negatives == [] and example.audio_negatives == []
        phrase = label_to_phrase(record.label)
        assert phrase in example.caption
        templates.add(example.caption.replace(phrase, "X"))
        assert example.audio.shape == (3 * SR,)
        [event] = example.timeline
        start, end = spans_in_samples(example)[0]
        assert event == Event(record.label, phrase, start / SR, end / SR)
        assert not example.audio[:start].any() and not example.audio[end:].any()
        assert rms_db(example.audio[start:end]) > -45
    assert len(templates) >= 3  # captions vary
    again = SingleClipDataset(records, SR, 3.0, seed=0)
    assert np.array_equal(again[5].audio, dataset[5].audio) and again[5].caption == dataset[5].caption

    # crop_s: every event at most the drawn length, and the lengths vary
    short = SingleClipDataset(records, SR, 3.0, seed=0, crop_s=(0.4, 1.0))
    lengths = [end - start for start, end in (spans_in_samples(short[i])[0] for i in range(len(short)))]
    assert max(lengths) <= SR and len(set(lengths)) > 1
    assert short[0].audio.shape == (3 * SR,)
    with pytest.raises(ValueError, match="crop_s"):
        SingleClipDataset(records, SR, 3.0, crop_s=(1.0, 0.5))

    mixed, bad = with_bad_files(records, tmp_path)
    with_bad = SingleClipDataset(mixed, SR, 3.0, seed=0)
    replaced = with_bad[0]  # records[0] is missing: another clip is drawn
    assert replaced.labels[0] in {r.label for r in records[:6]}
    with_bad[1]
    assert set(with_bad.bad_files) == {r.path for r in bad}


# ---------------------------------------------------------------------------------------------- caption lists


@pytest.fixture()
def caption_audio(tmp_path):
    root = tmp_path / "audio"
    root.mkdir()
    t = np.arange(SR) / SR
    for name, freq in [("a.wav", 300), ("b.flac", 500), ("abc123_30.wav", 700), ("Yxyz789.wav", 900)]:
        sf.write(root / name, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    sf.write(root / "long.wav", np.full(3 * SR, 0.1, np.float32), SR)
    return root


def test_generic_captions_with_negatives_and_skipped_empties(tmp_path, caption_audio, caplog):
    csv_path = write_csv(
        tmp_path / "caps.csv",
        'path,caption\na.wav,"A dog barks, then a car horn honks"\nb.flac,rain falls\nlong.wav,  \n'
        "long.wav,a bell rings followed by a door closing",
    )
    with caplog.at_level(logging.WARNING, logger="tclap_gen.datasets"):
        dataset = CaptionDataset(csv_path, caption_audio, layout="generic", sampling_rate=8000, seconds=2.0)
    assert dataset.skipped_captions == 1 and "line 4" in caplog.text
    assert len(dataset) == 3
    first, second, third = dataset[0], dataset[1], dataset[2]
    assert first.caption == "A dog barks, then a car horn honks"
    assert first.negatives == ["A car horn honks, then a dog barks"]
    assert second.negatives == []  # no order stated
    assert first.sampling_rate == 8000 and first.audio.shape == (16000,)
    assert np.abs(first.audio[:8000]).max() > 0.25 and not first.audio[8000:].any()  # 1 s of audio, padded
    assert third.audio.shape == (16000,) and np.allclose(third.audio[200:], 0.1, atol=1e-3)  # 3 s cropped to 2 s
    assert third.timeline == [] and third.audio_negatives == []


def test_clotho_layout_gives_one_entry_per_caption(tmp_path, caption_audio):
    csv_path = write_csv(
        tmp_path / "clotho.csv",
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        "a.wav,one,two,three,a door opens and then it closes,five\n"
        "b.flac,uno,dos,tres,cuatro,\n",
    )
    dataset = CaptionDataset(csv_path, caption_audio, layout="clotho", sampling_rate=SR, seconds=1.0)
    assert len(dataset) == 9 and dataset.skipped_captions == 1
    assert dataset.captions[:5] == ["one", "two", "three", "a door opens and then it closes", "five"]
    assert dataset[3].negatives == ["it closes and then a door opens"]
    assert np.array_equal(dataset[0].audio, dataset[4].audio)  # same file
    assert not np.array_equal(dataset[0].audio, dataset[5].audio)


def test_audiocaps_layout_file_names_override_and_missing_audio(tmp_path, caption_audio, caplog):
    csv_path = write_csv(
        tmp_path / "audiocaps.csv",
        "audiocap_id,youtube_id,start_time,caption\n1,abc123,30,a man speaks then a dog barks\n"
        "2,xyz789,0,wind blows\n3,missing00,10,birds chirp",
    )
    dataset = CaptionDataset(csv_path, caption_audio, layout="audiocaps", sampling_rate=SR, seconds=1.0)
    tones = [dataset[i] for i in range(2)]
    assert abs(np.argmax(np.abs(np.fft.rfft(tones[0].audio))) - 700) <= 1  # abc123_30.wav
    assert abs(np.argmax(np.abs(np.fft.rfft(tones[1].audio))) - 900) <= 1  # Yxyz789.wav
    assert tones[0].negatives == ["a dog barks then a man speaks"]
    with caplog.at_level(logging.WARNING, logger="tclap_gen.datasets"):
        replaced = dataset[2]  # no audio for missing00: logged, counted, another entry is used
    assert replaced.caption in ("a man speaks then a dog barks", "wind blows")
    assert [p.name for p in dataset.bad_files] == ["missing00_10.wav"] and "missing00" in caplog.text

    renamed = CaptionDataset(csv_path, caption_audio, layout="audiocaps", sampling_rate=SR, seconds=1.0,
                             audio_name_fn=lambda row: "a.wav" if row["youtube_id"] == "abc123" else "b.flac")
    assert abs(np.argmax(np.abs(np.fft.rfft(renamed[0].audio))) - 300) <= 1

    class Rewriter:
        def negatives(self, caption):
            return [caption.upper(), caption]  # the caption itself is never a negative

    rewritten = CaptionDataset(csv_path, caption_audio, sampling_rate=SR, seconds=1.0, rewriter=Rewriter())
    assert rewritten[1].negatives == ["WIND BLOWS"]


def test_caption_dataset_errors(tmp_path, caption_audio):
    csv_path = write_csv(tmp_path / "caps.csv", "path,text\na.wav,hello")
    with pytest.raises(ValueError, match=r"caps\.csv.*'caption'"):
        CaptionDataset(csv_path, caption_audio, layout="generic")
    with pytest.raises(ValueError, match="layout"):
        CaptionDataset(csv_path, caption_audio, layout="wavcaps")
    gone = write_csv(tmp_path / "gone.csv", "path,caption\nnope1.wav,x\nnope2.wav,y")
    dataset = CaptionDataset(gone, caption_audio, layout="generic", max_retries=3)
    with pytest.raises(DatasetError, match="nope"):
        dataset[0]


# ---------------------------------------------------------------------------------------------- collation


def test_collate_examples_flattens_negatives_with_owners(records):
    dataset = MixupDataset(records, SR, 2.0, length=6, seed=0)
    examples = [dataset[i] for i in range(4)] + [SingleClipDataset(records, SR, 2.0)[0]]
    batch = collate_examples(examples)
    assert set(batch) == {"audio", "sampling_rate", "captions", "negatives", "negative_owner", "audio_negatives",
                          "audio_negative_owner", "paraphrases", "paraphrase_owner", "labels", "timelines"}
    assert batch["sampling_rate"] == SR and len(batch["audio"]) == 5
    assert batch["captions"] == [e.caption for e in examples]
    assert batch["negative_owner"].dtype == torch.long
    expected_owner = [i for i, e in enumerate(examples) for _ in e.negatives]
    assert batch["negative_owner"].tolist() == expected_owner
    assert batch["negatives"] == [n for e in examples for n in e.negatives]
    assert batch["audio_negative_owner"].tolist() == [i for i, e in enumerate(examples) for _ in e.audio_negatives]
    assert 4 not in batch["negative_owner"].tolist()  # the single clip has none
    assert batch["labels"][4] == examples[4].labels and batch["timelines"][0] == examples[0].timeline
    with pytest.raises(ValueError, match="no examples"):
        collate_examples([])
    other_rate = TemporalExample(np.zeros(10, np.float32), 8000, "x")
    with pytest.raises(ValueError, match="sampling rates"):
        collate_examples([examples[0], other_rate])


def test_mixup_template_weights_are_checked_and_used(clips_csv):
    from tclap_gen.captions import parse_events

    records = read_clip_metadata(clips_csv)
    with pytest.raises(ValueError, match="template_weights"):
        MixupDataset(records, seconds=2.0, num_events=(2, 2), length=4, template_weights={"sometime": 1.0})
    dataset = MixupDataset(records, seconds=2.0, num_events=(2, 2), length=12,
                           template_weights={name: 0.0 for name in ("then", "and_then", "followed_by", "before",
                                                                    "after_lead", "first_then", "comma_followed_by",
                                                                    "until")})
    for i in range(len(dataset)):
        example = dataset[i]
        plan = parse_events(example.caption)
        assert example.caption.index(plan.events[1]) < example.caption.index(plan.events[0])  # B ... after A


def test_split_clip_lists_splits_each_list_as_the_recipes_do(tmp_path):
    """The held-out side every figure reads is the T-CLAP recipes' test side: each clip list split on its own."""
    from tclap_gen.datasets import heldout_split, split_by_source, split_clip_lists

    lists = []
    for name in ("a", "b"):
        rows = ["path,label,fold,source_id"] + [f"{name}{k}.wav,{name}_{k % 3},1,{name}{k // 2}" for k in range(30)]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
        lists.append(tmp_path / f"{name}.csv")
    train, heldout = split_clip_lists(lists)
    expected = [split_by_source(read_clip_metadata(p), test_fraction=0.2, seed=0) for p in lists]
    assert [r.path for r in train] == [r.path for a, _ in expected for r in a]
    assert [r.path for r in heldout] == [r.path for _, b in expected for r in b]
    assert [r.path for r in heldout_split(read_clip_metadata(lists[0]))[1]] == [r.path for r in expected[0][1]]
    union = split_by_source(read_clip_metadata(lists[0]) + read_clip_metadata(lists[1]), test_fraction=0.2, seed=0)
    assert [r.path for r in union[1]] != [r.path for r in heldout]  # the union's split is another one
