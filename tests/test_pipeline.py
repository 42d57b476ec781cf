"""TClapAudioLDMPipeline on tiny random components (built here, nothing downloaded)."""

import copy
import logging
import warnings

import numpy as np
import pytest
import torch

from tclap_gen.model import TClap
from tclap_gen.testing import tiny_tclap as build_tiny_tclap
from tclap_gen.pipelines import TClapAudioLDMPipeline, TClapAudioLDMPipelineOutput
from tclap_gen.pipelines.pipeline_tclap_audioldm import best_per_prompt
from tclap_gen.testing import tiny_pipeline, tiny_scheduler, tiny_unet, tiny_vae, tiny_vocoder
from tolerances import RECOMPUTED_ATOL

PROMPTS = ["a dog barks then a car horn honks", "glass smashing followed by a bicycle bell"]
STEPS = 2


def generate(pipe, prompt=PROMPTS, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", STEPS)
    return pipe(prompt, generator=torch.Generator().manual_seed(seed), **kwargs)


def audioldm_reference(tclap, pipe):
    """diffusers' own (deprecated) AudioLDMPipeline over the same components, its text encoder the T-CLAP's tower."""
    from diffusers.pipelines.deprecated.audioldm import AudioLDMPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = AudioLDMPipeline(
            vae=pipe.vae,
            text_encoder=tclap.export_text_encoder(),
            tokenizer=tclap.processor.tokenizer,
            unet=pipe.unet,
            scheduler=copy.deepcopy(pipe.scheduler),
            vocoder=pipe.vocoder,
        )
    reference.set_progress_bar_config(disable=True)
    return reference


# ---------------------------------------------------------------- AudioLDM parity
@pytest.mark.parametrize("guidance_scale", [2.5, 1.0])
def test_output_equals_diffusers_audioldm_with_the_same_text_tower(tiny_tclap, pipe, guidance_scale):
    reference = audioldm_reference(tiny_tclap, pipe)
    kwargs = dict(
        num_inference_steps=3, guidance_scale=guidance_scale, num_waveforms_per_prompt=2, audio_length_in_s=0.02
    )
    theirs = reference(PROMPTS, generator=torch.Generator().manual_seed(7), **kwargs).audios
    ours = generate(pipe, seed=7, **kwargs).audios
    assert ours.shape == theirs.shape == (4, int(0.02 * pipe.sampling_rate))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert np.abs(ours).max() > 1e-3  # not trivially equal: real signal


def test_negative_prompt_matches_audioldm_and_changes_output(tiny_tclap, pipe):
    reference = audioldm_reference(tiny_tclap, pipe)
    negatives = ["low quality", "noise"]
    theirs = reference(
        PROMPTS, negative_prompt=negatives, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(3)
    ).audios
    ours = generate(pipe, seed=3, negative_prompt=negatives).audios
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert not np.allclose(ours, generate(pipe, seed=3).audios, atol=1e-6)


# ---------------------------------------------------------------- basics
def test_output_types_lengths_and_sampling_rate(pipe):
    out = generate(pipe, num_waveforms_per_prompt=2, audio_length_in_s=0.0203)
    assert isinstance(out, TClapAudioLDMPipelineOutput)
    assert out.audios.dtype == np.float32 and out.audios.shape == (4, int(0.0203 * 16000))
    assert out.scores is None and out.candidates_scores is None
    pt = generate(pipe, prompt=PROMPTS[0], output_type="pt", return_dict=False)
    assert isinstance(pt, tuple) and isinstance(pt[0], torch.Tensor) and pt[0].dtype == torch.float32
    default_samples = pipe.unet.config.sample_size * pipe.vae_scale_factor * 4  # 4 = vocoder hop
    assert pt[0].shape == (1, default_samples)
    assert pipe.sampling_rate == 16000
    assert np.isfinite(out.audios).all()


def test_batch_equals_single_prompts_with_per_waveform_generators(pipe):
    generators = [torch.Generator().manual_seed(s) for s in (11, 12)]
    batch = pipe(PROMPTS, num_inference_steps=STEPS, generator=generators).audios
    single = [
        pipe(p, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(s)).audios[0]
        for p, s in zip(PROMPTS, (11, 12))
    ]
    np.testing.assert_allclose(batch, np.stack(single), rtol=0, atol=1e-5)


def test_seed_latents_and_precomputed_embeddings_reproduce(pipe):
    first, second = generate(pipe, seed=5).audios, generate(pipe, seed=5).audios
    np.testing.assert_allclose(first, second, rtol=0, atol=RECOMPUTED_ATOL)  # two calls: see tolerances.py
    assert not np.allclose(first, generate(pipe, seed=6).audios, rtol=0, atol=1e-4)

    latents = torch.randn(2, 4, 32, 4, generator=torch.Generator().manual_seed(0))
    by_latents = pipe(PROMPTS, num_inference_steps=STEPS, latents=latents).audios
    again = pipe(PROMPTS, num_inference_steps=STEPS, latents=latents.clone()).audios
    np.testing.assert_allclose(by_latents, again, rtol=0, atol=RECOMPUTED_ATOL)
    with pytest.raises(ValueError, match="latents"):
        pipe(PROMPTS, num_inference_steps=STEPS, latents=torch.randn(2, 4, 31, 4))

    embeds, negative = pipe.encode_prompt(PROMPTS, torch.device("cpu"), 1, True)
    by_embeds = pipe(
        prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=STEPS, latents=latents
    ).audios
    np.testing.assert_allclose(by_embeds, by_latents, rtol=0, atol=RECOMPUTED_ATOL)


def test_get_tclap_shares_the_modules(pipe, tiny_tclap):
    tclap = pipe.get_tclap()
    assert isinstance(tclap, TClap) and tclap.model is pipe.tclap is tiny_tclap.model
    torch.testing.assert_close(tclap.embed_text(PROMPTS), tiny_tclap.embed_text(PROMPTS), rtol=0, atol=RECOMPUTED_ATOL)


def test_from_components_refuses_a_projection_mismatch(tiny_tclap):
    with pytest.raises(ValueError, match="projection size is 32 but the UNet's class embedding takes 16"):
        TClapAudioLDMPipeline.from_components(
            tiny_tclap,
            vae=tiny_vae(),
            unet=tiny_unet(projection_dim=16),
            scheduler=tiny_scheduler(),
            vocoder=tiny_vocoder(),
        )


# ---------------------------------------------------------------- save / load
def test_save_and_load_round_trip(tiny_tclap, tmp_path):
    pipe = tiny_pipeline(tiny_tclap)
    info = {**pipe.config.tclap_info, "recipe": "test", "extra": {"classes": ["dog barking"]}}
    pipe.register_to_config(tclap_info=info)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path / "p")
    for sub in ("vae", "tclap", "tokenizer", "feature_extractor", "unet", "scheduler", "vocoder"):
        assert (tmp_path / "p" / sub).is_dir(), sub
    assert list((tmp_path / "p").rglob("*.safetensors")) and not list((tmp_path / "p").rglob("*.bin"))

    loaded = TClapAudioLDMPipeline.from_pretrained(tmp_path / "p")
    loaded.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(generate(loaded).audios, generate(pipe).audios, rtol=0, atol=1e-6)
    assert loaded.tclap_info.recipe == "test" and loaded.tclap_info.extra == {"classes": ["dog barking"]}

    # the same folder is a T-CLAP folder for tclap_gen
    tclap = TClap.from_pretrained(tmp_path / "p")
    assert tclap.info.recipe == "test"
    torch.testing.assert_close(tclap.embed_text(PROMPTS), tiny_tclap.embed_text(PROMPTS), rtol=0, atol=RECOMPUTED_ATOL)


def test_builtin_name_resolves_through_the_registry(tiny_tclap, tmp_path, monkeypatch):
    from tclap_gen import registry

    tiny_pipeline(tiny_tclap).save_pretrained(tmp_path / "mini")
    monkeypatch.setitem(registry.BUILTIN_MODELS, "mini", tmp_path / "mini")
    assert isinstance(TClapAudioLDMPipeline.from_pretrained("mini"), TClapAudioLDMPipeline)
    monkeypatch.setitem(registry.BUILTIN_MODELS, "mini", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="built-in model 'mini' is not installed"):
        TClapAudioLDMPipeline.from_pretrained("mini")


def test_diffusers_custom_pipeline_loading(tiny_tclap, tmp_path, monkeypatch):
    """DiffusionPipeline.from_pretrained(folder, custom_pipeline=<this pipeline's file>) loads it."""
    from diffusers import DiffusionPipeline
    from diffusers.utils import dynamic_modules_utils

    import tclap_gen.pipelines.pipeline_tclap_audioldm as module

    monkeypatch.setattr(dynamic_modules_utils, "HF_MODULES_CACHE", str(tmp_path / "modules"))  # keep ~/.cache clean
    pipe = tiny_pipeline(tiny_tclap)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path / "p")
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "p", custom_pipeline=module.__file__, trust_remote_code=True)
    assert type(loaded).__name__ == "TClapAudioLDMPipeline"
    loaded.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(generate(loaded).audios, generate(pipe).audios, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- schedulers and callbacks
@pytest.mark.parametrize(
    "name, overrides",
    # PNDM's Runge-Kutta warm-up needs more steps than a test runs: skip it, as Stable Diffusion configs do
    [
        ("DPMSolverMultistepScheduler", {}),
        ("EulerDiscreteScheduler", {}),
        ("PNDMScheduler", {"skip_prk_steps": True}),
        ("LMSDiscreteScheduler", {}),
    ],
)
def test_any_compatible_scheduler_swaps_in(pipe, name, overrides):
    import diffusers

    assert name in [cls.__name__ for cls in pipe.scheduler.compatibles]
    scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config, **overrides)
    swapped = TClapAudioLDMPipeline(**{**pipe.components, "scheduler": scheduler})
    swapped.set_progress_bar_config(disable=True)
    audio = generate(swapped, num_inference_steps=3).audios
    assert audio.shape == (2, 256) and np.isfinite(audio).all()
    assert not np.allclose(audio, generate(pipe, num_inference_steps=3).audios, atol=1e-5)


def test_latent_output_is_what_decoding_turns_into_the_audio(pipe):
    latents = generate(pipe, seed=4, output_type="latent").audios
    assert isinstance(latents, torch.Tensor) and latents.shape == (2, 4, 32, 4)
    (as_tuple,) = generate(pipe, seed=4, output_type="latent", return_dict=False)
    torch.testing.assert_close(as_tuple, latents, rtol=0, atol=RECOMPUTED_ATOL)  # a second call: tolerances.py
    audio = generate(pipe, seed=4, output_type="pt").audios
    with torch.no_grad():
        decoded = pipe.mel_spectrogram_to_waveform(pipe.decode_latents(latents))[:, : audio.shape[1]]
    torch.testing.assert_close(decoded, audio, rtol=0, atol=RECOMPUTED_ATOL)


def test_canonicalize_conditions_on_the_parsed_order(pipe):
    kwargs = dict(num_inference_steps=2, audio_length_in_s=0.05)
    canonical = pipe("a car horn honks after a dog barks", canonicalize=True, generator=torch.Generator().manual_seed(1), **kwargs).audios
    written = pipe("a dog barks then a car horn honks", generator=torch.Generator().manual_seed(1), **kwargs).audios
    as_is = pipe("a car horn honks after a dog barks", generator=torch.Generator().manual_seed(1), **kwargs).audios
    np.testing.assert_allclose(canonical, written, rtol=0, atol=RECOMPUTED_ATOL)  # two calls: tolerances.py
    assert not np.allclose(canonical, as_is, rtol=0, atol=1e-4)  # off by default: the prompt as written


def test_encode_prompt_runs_alone_on_the_execution_device(pipe):
    embeds, negative = pipe.encode_prompt(PROMPTS)
    assert embeds.device == pipe._execution_device and embeds.shape == (2, 32) and negative.shape == (2, 32)
    explicit, _ = pipe.encode_prompt(PROMPTS, torch.device("cpu"))
    torch.testing.assert_close(embeds, explicit, rtol=0, atol=RECOMPUTED_ATOL)  # a second call: tolerances.py


def test_callback_on_step_end_sees_every_step_and_can_replace_latents(pipe):
    seen = []
    fixed = torch.randn(2, 4, 32, 4, generator=torch.Generator().manual_seed(9))

    def callback(p, step, timestep, tensors):
        seen.append((step, int(timestep), sorted(tensors)))
        assert p is pipe and tensors["latents"].shape == fixed.shape
        return {"latents": fixed} if step == 2 else {}

    audio = generate(pipe, num_inference_steps=3, callback_on_step_end=callback,
                     callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"], output_type="pt").audios
    assert [s[0] for s in seen] == [0, 1, 2]
    assert [s[1] for s in seen] == pipe.scheduler.timesteps.tolist()
    assert seen[0][2] == ["latents", "prompt_embeds"]
    # the replaced final latents are what got decoded
    with torch.no_grad():
        expected = pipe.mel_spectrogram_to_waveform(pipe.decode_latents(fixed))
    torch.testing.assert_close(audio, expected)
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        generate(pipe, callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["noise_pred"])


def test_progress_bar_is_shown(tiny_tclap, capsys):
    pipe = tiny_pipeline(tiny_tclap)
    generate(pipe, prompt=PROMPTS[0])
    assert f"{STEPS}/{STEPS}" in capsys.readouterr().err


# ---------------------------------------------------------------- re-ranking
def test_best_per_prompt_never_takes_another_prompts_candidate():
    # every candidate of prompt 0 beats every candidate of prompt 1: a batch-wide ranking would give both slots to
    # prompt 0's audio
    scores = [0.9, 0.95, 0.8, 0.1, 0.3, 0.2]
    keep, grid = best_per_prompt(scores, num_prompts=2, per_prompt=3)
    assert keep == [1, 4]
    assert grid == [[0.9, 0.95, 0.8], [0.1, 0.3, 0.2]]
    assert sorted(np.argsort(scores)[-2:].tolist()) == [0, 1]  # what ranking across the batch would have kept
    with pytest.raises(ValueError, match="6 scores for 2 prompts x 2"):
        best_per_prompt(scores, 2, 2)


def test_clap_rerank_keeps_each_prompts_own_best_candidate(pipe, tiny_tclap):
    n = 3
    candidates = generate(pipe, num_waveforms_per_prompt=n, seed=1).audios
    out = generate(pipe, num_waveforms_per_prompt=n, seed=1, rerank="clap")
    assert out.audios.shape == (2, candidates.shape[1])
    assert len(out.scores) == 2 and [len(row) for row in out.candidates_scores] == [n, n]

    # the scores are T-CLAP cosines between each candidate and its own prompt, computed independently here
    audio_emb = tiny_tclap.embed_audio(list(candidates), sampling_rate=pipe.sampling_rate)
    text_emb = tiny_tclap.embed_text(PROMPTS).repeat_interleave(n, dim=0)
    expected = (audio_emb * text_emb).sum(-1).view(2, n)
    np.testing.assert_allclose(out.candidates_scores, expected.numpy(), atol=1e-4)
    assert len({round(s, 6) for row in out.candidates_scores for s in row}) == 2 * n  # candidates differ

    for i in range(2):
        best = int(np.argmax(out.candidates_scores[i]))
        np.testing.assert_allclose(out.audios[i], candidates[i * n + best], rtol=0, atol=RECOMPUTED_ATOL)  # 2nd call
        assert out.scores[i] == out.candidates_scores[i][best] == max(out.candidates_scores[i])

    as_tuple = generate(pipe, num_waveforms_per_prompt=n, seed=1, rerank="clap", return_dict=False)
    assert len(as_tuple) == 3 and as_tuple[1] == out.scores


def test_temporal_rerank_uses_the_temporal_scorer(pipe, tiny_tclap):
    from tclap_gen.scoring import TemporalScorer

    n = 2
    length = 0.25
    candidates = generate(pipe, num_waveforms_per_prompt=n, seed=2, audio_length_in_s=length).audios
    out = generate(pipe, num_waveforms_per_prompt=n, seed=2, audio_length_in_s=length, rerank="temporal")
    scorer = TemporalScorer(tiny_tclap)
    for i, prompt in enumerate(PROMPTS):
        expected = [
            scorer.score(candidates[i * n + k], sampling_rate=pipe.sampling_rate, prompt=prompt).faithfulness
            for k in range(n)
        ]
        np.testing.assert_allclose(out.candidates_scores[i], expected, atol=1e-5)
        best = int(np.argmax(out.candidates_scores[i]))
        np.testing.assert_allclose(out.audios[i], candidates[i * n + best], rtol=0, atol=RECOMPUTED_ATOL)  # 2nd call
        assert out.scores[i] == out.candidates_scores[i][best]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prompt": ""}, r"`prompt\[0\]` is empty"),
        ({"prompt": ["a dog barks", "   "]}, r"`prompt\[1\]` is empty"),
        ({"prompt": []}, "non-empty list"),
        ({"prompt": None}, "pass `prompt`"),
        ({"negative_prompt": ["quiet"]}, "`negative_prompt` has 1 entries but there are 2 prompts"),
        ({"num_inference_steps": 0}, "`num_inference_steps` must be a positive integer"),
        ({"num_inference_steps": -3}, "`num_inference_steps` must be a positive integer"),
        ({"audio_length_in_s": 0}, "`audio_length_in_s` must be a positive number"),
        ({"audio_length_in_s": -1.0}, "`audio_length_in_s` must be a positive number"),
        ({"audio_length_in_s": 0.0004}, "shorter than one latent frame"),
        ({"num_waveforms_per_prompt": 0}, "`num_waveforms_per_prompt` must be a positive integer"),
        ({"output_type": "wav"}, "`output_type`"),
        ({"output_type": "latent", "rerank": "clap"}, "needs output_type"),
        ({"rerank": "loudest"}, "`rerank` must be one of"),
        ({"generator": [torch.Generator()]}, "1 generators for 2 waveforms"),
    ],
)
def test_bad_input_is_a_clear_error(pipe, kwargs, match):
    kwargs = {"prompt": PROMPTS, "num_inference_steps": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        pipe(**kwargs)


def test_embeddings_input_errors(pipe):
    embeds, _ = pipe.encode_prompt(PROMPTS, torch.device("cpu"), 1, False)
    with pytest.raises(ValueError, match="not both"):
        pipe(PROMPTS, prompt_embeds=embeds)
    with pytest.raises(ValueError, match=r"`prompt_embeds` must have shape \(batch, 32\)"):
        pipe(prompt_embeds=embeds[:, :16])
    with pytest.raises(ValueError, match="needs the prompt text"):
        pipe(prompt_embeds=embeds, rerank="temporal")


def test_long_prompt_is_truncated_with_a_warning(pipe, caplog):
    long_prompt = " then ".join(["a dog barks", "a car horn honks"] * 30)
    assert len(pipe.tokenizer(long_prompt)["input_ids"]) > pipe.tokenizer.model_max_length
    with caplog.at_level(logging.WARNING):
        out = generate(pipe, prompt=[PROMPTS[0], long_prompt])
    assert out.audios.shape[0] == 2
    messages = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(messages) == 1 and messages[0].startswith("prompt 1 was truncated")


def test_warns_about_sounds_the_tclap_does_not_know(tiny_tclap, caplog):
    pipe = tiny_pipeline(tiny_tclap)
    pipe.set_progress_bar_config(disable=True)
    pipe.register_to_config(tclap_info={"extra": {"classes": ["glass smashing", "bicycle bell", "dog barking"]}})
    with caplog.at_level(logging.WARNING):
        generate(pipe, prompt=["a dog barks then glass smashes", "a bicycle bell rings then a chainsaw whines"])
    messages = [r.getMessage() for r in caplog.records if "match none of the sounds" in r.getMessage()]
    assert len(messages) == 1
    assert messages[0].startswith("prompt 1") and "a chainsaw whines" in messages[0] and "bicycle bell" in messages[0]


# ---------------------------------------------------------------- from_audioldm
@pytest.fixture(scope="module")
def audioldm_folder(tiny_tclap, pipe, tmp_path_factory):
    """A tiny AudioLDM checkpoint, saved in diffusers format by diffusers' AudioLDMPipeline; its text encoder is
    the tiny T-CLAP's text tower."""
    folder = tmp_path_factory.mktemp("audioldm") / "tiny-audioldm"
    audioldm_reference(tiny_tclap, pipe).save_pretrained(folder)
    return folder


def test_from_audioldm_assembles_a_pipeline_equal_to_audioldm(audioldm_folder, tiny_tclap, pipe, caplog):
    with caplog.at_level(logging.WARNING):
        built = TClapAudioLDMPipeline.from_audioldm(audioldm_folder, tiny_tclap)
    assert not [r for r in caplog.records if "drifted" in r.getMessage()]
    assert built.conditioner_drift.mean_cosine > 0.999 and not built.conditioner_drift.drifted
    assert built.conditioner_drift.num_probes == 20
    built.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(generate(built).audios, generate(pipe).audios, rtol=0, atol=1e-6)
    assert built.tclap is tiny_tclap.model


def test_from_audioldm_warns_on_a_drifted_text_space(audioldm_folder, caplog):
    other = build_tiny_tclap(seed=1)  # same tokenizer, unrelated text tower
    with caplog.at_level(logging.WARNING):
        built = TClapAudioLDMPipeline.from_audioldm(audioldm_folder, other)
    assert built.conditioner_drift.drifted and built.conditioner_drift.mean_cosine < 0.9
    assert any("drifted" in r.getMessage() and "mean cosine" in r.getMessage() for r in caplog.records)


def test_from_audioldm_refuses_a_projection_mismatch(audioldm_folder, tmp_path):
    with pytest.raises(ValueError, match="projection size is 16 but the UNet's class embedding takes 32"):
        TClapAudioLDMPipeline.from_audioldm(audioldm_folder, build_tiny_tclap(projection_dim=16))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model_index.json"):
        TClapAudioLDMPipeline.from_audioldm(tmp_path / "empty", build_tiny_tclap())


# ---------------------------------------------------------------- dtypes and devices
def test_half_precision_constructs_and_bfloat16_generates_on_cpu(tiny_tclap):
    pipe = tiny_pipeline(copy.deepcopy(tiny_tclap))
    pipe.set_progress_bar_config(disable=True)
    pipe.to(torch.float16)
    assert pipe.unet.dtype == pipe.vae.dtype == pipe.vocoder.dtype == pipe.tclap.dtype == torch.float16
    pipe.to(dtype=torch.bfloat16)
    out = generate(pipe, num_waveforms_per_prompt=2, rerank="clap")
    assert out.audios.dtype == np.float32 and out.audios.shape == (2, 256)
    assert np.isfinite(out.audios).all() and np.isfinite(out.scores).all()


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA-only check (fp16 kernels, model offload)")


@cuda
def test_cuda_float16_generation(tiny_tclap):
    pipe = tiny_pipeline(copy.deepcopy(tiny_tclap)).to("cuda", torch.float16)
    pipe.set_progress_bar_config(disable=True)
    out = generate(pipe, num_waveforms_per_prompt=2, rerank="clap", audio_length_in_s=0.1)
    assert out.audios.dtype == np.float32 and out.audios.shape == (2, 1600) and np.isfinite(out.audios).all()
    assert np.isfinite(out.scores).all()


@cuda
def test_cuda_model_cpu_offload_matches_plain_cuda(tiny_tclap):
    plain = tiny_pipeline(copy.deepcopy(tiny_tclap)).to("cuda")
    offloaded = tiny_pipeline(copy.deepcopy(tiny_tclap))
    offloaded.enable_model_cpu_offload(device="cuda")
    for p in (plain, offloaded):
        p.set_progress_bar_config(disable=True)
    kwargs = dict(num_waveforms_per_prompt=2, rerank="clap", audio_length_in_s=0.1)
    a, b = generate(plain, **kwargs), generate(offloaded, **kwargs)
    np.testing.assert_allclose(a.audios, b.audios, atol=1e-4)
    np.testing.assert_allclose(a.candidates_scores, b.candidates_scores, atol=1e-4)
    # between calls every model is back on the CPU
    models = (offloaded.unet, offloaded.vae, offloaded.vocoder, offloaded.tclap)
    assert {p.device.type for m in models for p in m.parameters()} == {"cpu"}
    generate(offloaded, **kwargs)  # a second call works with the re-armed hooks


def test_mini_clap_shares_the_vae_and_vocoder_of_mini():
    from tclap_gen.registry import BUILTIN_MODELS

    assert not (BUILTIN_MODELS["mini-clap"] / "vae").exists() and not (BUILTIN_MODELS["mini-clap"] / "vocoder").exists()
    mini, baseline = (TClapAudioLDMPipeline.from_pretrained(name) for name in ("mini", "mini-clap"))
    for part in ("vae", "vocoder"):  # the same files, loaded twice: equal bit for bit
        for a, b in zip(getattr(mini, part).state_dict().values(), getattr(baseline, part).state_dict().values()):
            assert torch.equal(a, b)
    assert not torch.equal(mini.unet.conv_in.weight, baseline.unet.conv_in.weight)  # its own UNet
    assert baseline.vae.dtype == baseline.unet.dtype == torch.float32
