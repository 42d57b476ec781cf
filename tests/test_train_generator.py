"""training/train_generator.py: every stage trains (loss falls on a fixed batch), resumes, and assembles a
TClapAudioLDMPipeline folder that loads and generates. Tiny sizes, the 12 clips in tests/data/clips."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tclap_gen.trainers import generator as tg

TINY = Path(__file__).resolve().parent.parent / "training" / "configs" / "generator-tiny.yaml"


def tiny_config(tmp: Path, clips_csv: Path, tclap_dir: Path, *extra: str) -> tg.GeneratorConfig:
    overrides = [
        f"output_dir={tmp / 'run'}",
        f"data.root={clips_csv.parent}",
        f"unet.tclap={tclap_dir}",
        "vae.fixed_batch=true",
        "vocoder.fixed_batch=true",
        "unet.fixed_batch=true",
        *extra,
    ]
    return tg.load_config(TINY, overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_tclap, clips_csv):
    """All four stages once (about half a minute on two busy cores)."""
    tmp = tmp_path_factory.mktemp("generator")
    tclap_dir = tiny_tclap.save_pretrained(tmp / "tclap")
    cfg = tiny_config(tmp, clips_csv, tclap_dir)
    results = tg.run_stages(cfg, "all")
    return cfg, results, tmp, tclap_dir


def falls(losses):
    return np.mean(losses[-2:]) < losses[0]


def test_vae_trains_and_stores_its_scaling_factor(trained):
    from diffusers import AutoencoderKL

    cfg, results, _, _ = trained
    result = results["vae"]
    assert result.start_step == 0 and result.end_step == cfg.vae.steps == len(result.losses)
    assert falls(result.losses), result.losses
    vae = AutoencoderKL.from_pretrained(result.model_dir)
    done = json.loads((cfg.out / "vae" / "done.json").read_text())
    assert vae.config.scaling_factor == pytest.approx(done["scaling_factor"])
    assert vae.config.scaling_factor != 1.0 and math.isfinite(vae.config.scaling_factor)
    assert vae.config.latent_channels == 4 and vae.config.in_channels == 1
    # keep_checkpoints=2 of steps 3 and 6; no temporary folders left behind
    names = sorted(p.name for p in (cfg.out / "vae" / "checkpoints").iterdir())
    assert names == ["step-00000003", "step-00000006"]


def test_vocoder_trains_and_maps_frames_to_hops(trained):
    from tclap_gen.vocoder import VocosVocoder, load_vocoder

    cfg, results, _, _ = trained
    assert falls(results["vocoder"].losses), results["vocoder"].losses
    vocoder = load_vocoder(results["vocoder"].model_dir)
    assert isinstance(vocoder, VocosVocoder)
    assert vocoder.config.model_in_dim == 64 and int(np.prod(vocoder.config.upsample_rates)) == 160
    with torch.no_grad():
        wave = vocoder(torch.full((1, 20, 64), -5.0))
    assert wave.shape == (1, 20 * 160) and torch.isfinite(wave).all()


def test_hifigan_vocoder_still_trains(tmp_path, tiny_tclap, clips_csv):
    """vocoder.kind=hifigan: AudioLDM's SpeechT5HifiGan, for recipes that want the real checkpoints' architecture."""
    from transformers import SpeechT5HifiGan

    from tclap_gen.vocoder import load_vocoder

    cfg = tiny_config(tmp_path, clips_csv, tmp_path, "vocoder.kind=hifigan", "vocoder.upsample_rates=[5, 4, 2, 2, 2]",
                      "vocoder.upsample_initial_channel=32", "vocoder.upsample_kernel_sizes=[10, 8, 4, 4, 4]",
                      "vocoder.resblock_kernel_sizes=[3]", "vocoder.resblock_dilation_sizes=[[1, 3]]")
    result = tg.run_stages(cfg, "vocoder")["vocoder"]
    assert falls(result.losses), result.losses
    vocoder = load_vocoder(result.model_dir)
    assert isinstance(vocoder, SpeechT5HifiGan) and not vocoder.config.normalize_before
    with torch.no_grad():
        assert vocoder(torch.full((1, 20, 64), -5.0)).shape[-1] >= 20 * 160


TINY_GAN = ["vocoder.adversarial_weight=0.5", "vocoder.mpd_periods=[2, 3]", "vocoder.mpd_channels=[4, 8]",
            "vocoder.mrd_resolutions=[[128, 32]]", "vocoder.mrd_channels=4", "vocoder.mrd_layers=2",
            "vocoder.fixed_batch=false"]


def test_adversarial_vocoder_fine_tunes_and_resumes_exactly(trained, tmp_path, clips_csv):
    """vocoder.init + adversarial_weight: a GAN fine-tune of the trained vocoder. 4 steps straight and 2 + 2 resumed
    end on the same weights, so the discriminators and their optimiser are checkpointed and restored too."""
    from safetensors.torch import load_file

    cfg, results, _, tclap_dir = trained
    init = f"vocoder.init={results['assemble']}"  # a pipeline folder: its vocoder/ is read

    def run(name, *extra, resume=False):
        c = tiny_config(tmp_path / name, clips_csv, tclap_dir, init, *TINY_GAN, "vocoder.steps=4", *extra)
        return tg.run_stages(c, "vocoder", resume=resume)["vocoder"], c

    straight, c = run("a")
    lines = [json.loads(x) for x in (c.out / "vocoder" / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(x[k]) and x[k] > 0 for x in lines for k in ("disc", "adv", "fm", "mel_l1"))
    assert run("b", "vocoder.time_budget_s=0")[0].end_step == 1  # interrupted after one step
    resumed, _ = run("b", resume=True)
    assert (resumed.start_step, resumed.end_step) == (1, 4)
    a = load_file(next(Path(straight.model_dir).glob("*.safetensors")))
    b = load_file(next(Path(resumed.model_dir).glob("*.safetensors")))
    start = load_file(next((Path(results["assemble"]) / "vocoder").glob("*.safetensors")))
    # Adam steps on identical data: recomputed float32 values, a few steps deep
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert any(not torch.allclose(a[k], start[k].float(), atol=1e-5) for k in a)  # it did train from the init


def test_discriminator_losses():
    from tclap_gen.trainers import discriminators as D

    model = D.VocoderDiscriminator([2, 3], [4, 8], [[128, 32]], 4, 2)
    wave = torch.randn(2, 1601)  # not a multiple of any period
    outputs = model(wave)
    assert len(outputs) == 3 and all(o[-1].shape[0] == 2 and o[-1].shape[1] == 1 for o in outputs)
    ones = [[torch.ones(2, 3)] for _ in range(3)]
    zeros = [[torch.zeros(2, 3)] for _ in range(3)]
    assert float(D.discriminator_loss(ones, zeros)) == 0.0 and float(D.discriminator_loss(zeros, ones)) == 2.0
    assert float(D.generator_adversarial_loss(ones)) == 0.0
    assert float(D.feature_matching_loss(outputs, outputs)) == 0.0
    assert float(D.feature_matching_loss(outputs, model(torch.randn(2, 1601)))) > 0

    patches = D.MelPatchDiscriminator([4, 8, 16])(torch.randn(2, 1, 64, 32))  # (B, 1, frames, mels)
    assert len(patches) == 1 and patches[0][-1].shape == (2, 1, 8, 4)  # one logit per patch: three halvings


def test_unet_trains_on_a_pool_of_latents_and_embeddings(trained):
    from safetensors.torch import load_file

    cfg, results, _, _ = trained
    assert falls(results["unet"].losses), results["unet"].losses
    pool = load_file(str(cfg.out / "unet" / "pool.safetensors"))
    # 8 examples of 1.28 s: 128 mel frames -> VAE (scale 2) latents 4 x 64 x 32; embeddings L2-normalised
    assert pool["latents"].shape == (8, 4, 64, 32)
    assert pool["embeddings"].shape == (8, 32)
    assert torch.allclose(pool["embeddings"].norm(dim=-1), torch.ones(8), atol=1e-4)
    # single clips and mix-ups differ: no two examples are identical
    flat = pool["latents"].flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(8) * 1e9).min() > 0
    # beside them, the text embeddings of the examples' captions: another modality, so not the audio embeddings
    assert pool["text_embeddings"].shape == (8, 32)
    assert torch.allclose(pool["text_embeddings"].norm(dim=-1), torch.ones(8), atol=1e-4)
    assert not torch.allclose(pool["text_embeddings"], pool["embeddings"], atol=1e-2)


def test_unet_text_condition_fraction_conditions_on_caption_embeddings(trained, tmp_path, clips_csv):
    """unet.text_condition_fraction=1 trains on the captions' text embeddings: from the same start, seed and batches
    it ends elsewhere than the audio-conditioned run; 0 draws nothing more, so it repeats the audio-only run exactly."""
    import shutil

    from safetensors.torch import load_file

    cfg, results, _, tclap_dir = trained

    def run(name, fraction):
        c = tiny_config(tmp_path / name, clips_csv, tclap_dir, "unet.steps=2", f"unet.text_condition_fraction={fraction}")
        shutil.copytree(cfg.out / "vae", c.out / "vae")
        result = tg.run_stages(c, "unet")["unet"]
        return load_file(next(Path(result.model_dir).glob("*.safetensors")))

    audio, again, text = run("a", 0.0), run("b", 0.0), run("c", 1.0)
    assert all(torch.equal(audio[k], again[k]) for k in audio)
    assert any(not torch.allclose(audio[k], text[k], atol=1e-6) for k in audio)
    with pytest.raises(tg.ConfigError, match="text_condition_fraction"):
        tiny_config(tmp_path, clips_csv, tclap_dir, "unet.text_condition_fraction=1.5")


def test_resume_continues_the_step_count(trained, tmp_path, clips_csv):
    import shutil

    cfg, _, _, tclap_dir = trained
    run = tmp_path / "run"
    shutil.copytree(cfg.out / "vae", run / "vae")
    more = tg.load_config(TINY, [f"output_dir={run}", f"data.root={clips_csv.parent}", f"unet.tclap={tclap_dir}", "vae.steps=8"])
    result = tg.run_stages(more, "vae", resume=True)["vae"]
    assert (result.start_step, result.end_step, len(result.losses)) == (6, 8, 2)
    assert json.loads((run / "vae" / "checkpoints" / "step-00000008" / "trainer_state.json").read_text()) == {"step": 8}
    assert json.loads((run / "vae" / "done.json").read_text())["steps"] == 8
    # a finished stage is skipped on resume; without --resume the earlier run's checkpoints are not overwritten
    again = tg.run_stages(more, "vae", resume=True)["vae"]
    assert again.skipped and again.losses == []
    with pytest.raises(tg.ConfigError, match="--resume"):
        tg.run_stages(more, "vae")


def test_time_budget_stops_early_saves_and_resumes(trained, tmp_path, clips_csv):
    _, _, _, tclap_dir = trained
    common = [f"output_dir={tmp_path / 'run'}", f"data.root={clips_csv.parent}", f"unet.tclap={tclap_dir}",
              "vae.steps=50"]
    stopped = tg.run_stages(tg.load_config(TINY, [*common, "vae.time_budget_s=0"]), "vae")["vae"]
    assert stopped.end_step == 1 and (tmp_path / "run" / "vae" / "model").is_dir()
    assert json.loads((tmp_path / "run" / "vae" / "done.json").read_text())["steps"] == 1
    resumed = tg.run_stages(tg.load_config(TINY, [*common, "vae.steps=3"]), "vae", resume=True)["vae"]
    assert (resumed.start_step, resumed.end_step) == (1, 3)


def test_assembled_pipeline_loads_and_generates(trained):
    from diffusers import DDIMScheduler

    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    cfg, results, _, _ = trained
    folder = results["assemble"]
    assert folder == cfg.out / "pipeline" and (folder / "model_index.json").is_file()
    assert not list(folder.parent.glob(".pipeline*"))  # the temporary folder was renamed
    pipe = TClapAudioLDMPipeline.from_pretrained(str(folder))
    assert isinstance(pipe.scheduler, DDIMScheduler)
    assert pipe.scheduler.config.beta_start == pytest.approx(0.0015) and pipe.scheduler.config.steps_offset == 1
    assert pipe.vae.config.scaling_factor == pytest.approx(json.loads((cfg.out / "vae" / "done.json").read_text())["scaling_factor"])
    out = pipe("glass smashing then a bicycle bell", num_inference_steps=2, audio_length_in_s=1.0,
               generator=torch.Generator().manual_seed(0))
    assert out.audios.shape == (1, 16000) and np.isfinite(out.audios).all()
    record = json.loads((folder / "generator_training.json").read_text())
    assert record["unet"]["steps"] == cfg.unet.steps and record["fp16_weights"] is False


def test_unconditional_embedding_is_what_the_pipeline_uses_for_an_empty_negative(trained):
    from tclap_gen.model import TClap
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    cfg, results, _, tclap_dir = trained
    pipe = TClapAudioLDMPipeline.from_pretrained(str(results["assemble"]))
    _, negative = pipe.encode_prompt(["a dog barks"], torch.device("cpu"), 1, True)
    ours = tg.unconditional_embedding(TClap.from_pretrained(tclap_dir))
    assert torch.allclose(negative.float(), ours, atol=1e-5)


def test_fp16_weights_halve_the_folder(trained, tmp_path):
    from safetensors import safe_open

    cfg, _, _, _ = trained
    cfg16 = tg.load_config(TINY, [f"output_dir={cfg.out}", f"unet.tclap={cfg.unet.tclap}", f"assemble.output={tmp_path / 'p16'}"])
    folder = tg.assemble(cfg16, fp16_weights=True)
    with safe_open(str(next((folder / "unet").glob("*.safetensors"))), framework="pt") as handle:
        assert {handle.get_slice(k).get_dtype() for k in handle.keys()} == {"F16"}


def test_unpacked_parts_reassemble_around_another_tclap(trained, tmp_path, clips_csv):
    """training/recipes/unpack_pipeline.py + --stage assemble: what run 3 did (new T-CLAP, same UNet/VAE/vocoder)."""
    import subprocess
    import sys

    from tclap_gen.testing import tiny_tclap
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    cfg, results, _, _ = trained
    script = Path(__file__).resolve().parent.parent / "training" / "recipes" / "unpack_pipeline.py"

    def unpack(*args) -> int:  # the recipe script, run as the recipes run it
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, timeout=300).returncode

    run = tmp_path / "run"
    assert unpack(str(results["assemble"]), str(run), "vae", "vocoder", "unet") == 0
    assert json.loads((run / "unet" / "done.json").read_text())["steps"] == cfg.unet.steps
    other = tiny_tclap(seed=11).save_pretrained(tmp_path / "other-tclap")
    again = tg.load_config(TINY, [f"output_dir={run}", f"data.root={clips_csv.parent}", f"unet.tclap={other}",
                                  f"assemble.output={tmp_path / 'p'}"])
    assert tg.run_stages(again, "all", resume=True)["unet"].skipped  # nothing retrained
    old = TClapAudioLDMPipeline.from_pretrained(str(results["assemble"]))
    new = TClapAudioLDMPipeline.from_pretrained(str(tmp_path / "p"))
    for a, b in zip(old.unet.state_dict().values(), new.unet.state_dict().values()):
        assert torch.equal(a, b)
    old_embeds, _ = old.encode_prompt(["a dog barks"], torch.device("cpu"), 1, False)
    new_embeds, _ = new.encode_prompt(["a dog barks"], torch.device("cpu"), 1, False)
    assert not torch.allclose(old_embeds, new_embeds)  # the other T-CLAP conditions it
    assert unpack(str(tmp_path), str(run), "unet") == 2  # not a pipeline folder: clear error
    assert unpack(str(results["assemble"]), str(run), "scheduler") == 2


def test_vae_decoder_only_fine_tune_keeps_the_latent_space(trained, tmp_path, clips_csv):
    """vae.init + vae.decoder_only: the decoder trains, the encoder and the scaling_factor stay the init's (a UNet
    trained on its latents still fits); decoder_only without init is a config error."""
    from diffusers import AutoencoderKL

    cfg, results, _, tclap_dir = trained
    start = AutoencoderKL.from_pretrained(results["vae"].model_dir)
    tuned = tiny_config(tmp_path, clips_csv, tclap_dir, f"vae.init={results['assemble']}", "vae.decoder_only=true",
                        "vae.steps=3", "vae.learning_rate=1e-2")
    end = AutoencoderKL.from_pretrained(tg.train_vae(tuned).model_dir)
    assert end.config.scaling_factor == start.config.scaling_factor
    before, after = start.state_dict(), end.state_dict()
    frozen = [k for k in before if k.startswith(("encoder.", "quant_conv."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    with pytest.raises(tg.ConfigError, match="vae.decoder_only needs vae.init"):
        tiny_config(tmp_path / "bad", clips_csv, tclap_dir, "vae.decoder_only=true")


def test_adversarial_vae_decoder_fine_tunes_and_resumes_exactly(trained, tmp_path, clips_csv):
    """vae.adversarial_weight: a mel patch discriminator judges the decoder's reconstructions. The GAN terms are
    logged and finite, the encoder stays frozen, and 3 steps straight and 1 + 2 resumed end on the same weights (the
    discriminator and its optimiser are checkpointed and restored too)."""
    from safetensors.torch import load_file

    cfg, results, _, tclap_dir = trained

    def run(name, *extra, resume=False):
        c = tiny_config(tmp_path / name, clips_csv, tclap_dir, f"vae.init={results['assemble']}", "vae.decoder_only=true",
                        "vae.adversarial_weight=0.5", "vae.discriminator_channels=[4, 8]", "vae.steps=3",
                        "vae.fixed_batch=false", *extra)
        return tg.train_vae(c, resume=resume), c

    straight, c = run("a")
    lines = [json.loads(x) for x in (c.out / "vae" / "log.jsonl").read_text().splitlines() if '"step"' in x]
    assert lines and all(math.isfinite(x[k]) and x[k] > 0 for x in lines for k in ("disc", "adv", "fm", "recon"))
    assert run("b", "vae.time_budget_s=0")[0].end_step == 1  # interrupted after one step
    resumed, _ = run("b", resume=True)
    assert (resumed.start_step, resumed.end_step) == (1, 3)
    a = load_file(next(Path(straight.model_dir).glob("*.safetensors")))
    b = load_file(next(Path(resumed.model_dir).glob("*.safetensors")))
    start = load_file(next(Path(results["vae"].model_dir).glob("*.safetensors")))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)  # Adam steps on identical data, recomputed
    assert all(torch.equal(a[k], start[k]) for k in a if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.allclose(a[k], start[k], atol=1e-5) for k in a if k.startswith("decoder."))


def test_unet_init_fine_tunes_an_existing_unet(trained, tmp_path, clips_csv):
    """unet.init: the UNet starts from a trained one (pipeline or UNet folder); at learning rate 0 it ends there."""
    import dataclasses
    import shutil

    from safetensors.torch import load_file

    cfg, results, _, tclap_dir = trained
    shutil.copytree(cfg.out / "vae", tmp_path / "run" / "vae")
    tuned = tiny_config(tmp_path, clips_csv, tclap_dir, f"unet.init={results['assemble']}", "unet.learning_rate=0",
                        "unet.ema_decay=0.9", "unet.steps=2")
    end = load_file(next(Path(tg.train_unet(tuned).model_dir).glob("*.safetensors")))
    start = load_file(next((Path(results["assemble"]) / "unet").glob("*.safetensors")))
    assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in start)

    projection_dim = start["class_embedding.weight"].shape[1]
    unet = tg.build_unet(dataclasses.replace(cfg.unet, block_out_channels=[16, 32]), 4, projection_dim, 64)
    with pytest.raises(tg.ConfigError, match="unet.init=.*does not match"):
        tg.load_weights(unet, str(results["assemble"]), "unet", "unet.init")
    with pytest.raises(FileNotFoundError, match="unet.init="):
        tg.load_weights(unet, str(tmp_path / "missing"), "unet", "unet.init")


def test_min_snr_weighting(trained, tmp_path, clips_csv):
    """Min-SNR-gamma: weight min(SNR, 5) / SNR for the noise target, / (SNR + 1) for the velocity; without gamma the
    loss is the plain MSE; with it the UNet stage still trains."""
    import shutil

    alphas = torch.tensor([0.5, 5 / 6, 20 / 21], dtype=torch.float64)  # SNR 1, 5, 20
    assert torch.allclose(tg.min_snr_weights(alphas, 5.0), torch.tensor([1.0, 1.0, 0.25], dtype=torch.float64))
    assert torch.allclose(tg.min_snr_weights(alphas, 5.0, "v_prediction"),
                          torch.tensor([0.5, 5 / 6, 5 / 21], dtype=torch.float64))

    class Echo(torch.nn.Module):  # predicts its noisy input: the loss is then a closed form
        def forward(self, x, t, encoder_hidden_states=None, class_labels=None):
            return type("Out", (), {"sample": x})()

    g = torch.Generator().manual_seed(0)
    clean, noise = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    table, t = torch.tensor([0.5, 5 / 6, 20 / 21]), torch.tensor([0, 1, 2])
    a, s = table.sqrt()[:, None, None, None], (1 - table).sqrt()[:, None, None, None]
    per_example = ((a * clean + s * noise - noise) ** 2).mean(dim=(1, 2, 3))
    plain = tg.diffusion_loss(Echo(), clean, None, noise, t, table)
    weighted = tg.diffusion_loss(Echo(), clean, None, noise, t, table, snr_gamma=5.0)
    assert torch.allclose(plain, per_example.mean(), rtol=1e-6)
    assert torch.allclose(weighted, (per_example * torch.tensor([1.0, 1.0, 0.25])).mean(), rtol=1e-6)

    cfg, _, _, tclap_dir = trained
    shutil.copytree(cfg.out / "vae", tmp_path / "run" / "vae")
    result = tg.train_unet(tiny_config(tmp_path, clips_csv, tclap_dir, "unet.snr_gamma=5"))
    assert falls(result.losses), result.losses
    with pytest.raises(tg.ConfigError, match="unet.snr_gamma"):
        tiny_config(tmp_path, clips_csv, tclap_dir, "unet.snr_gamma=0")


def test_condition_use_tells_a_unet_that_ignores_its_condition_from_one_that_uses_it(trained):
    """Three equal losses (gain 0) when the condition cannot reach the UNet; a gain above 0 when the right
    embedding helps (a hand-built UNet that predicts better from its own example's embedding)."""
    cfg, _, _, _ = trained
    alphas = tg.build_noise_scheduler(cfg.unet).alphas_cumprod
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(8, 4, 8, 8, generator=g)
    embeddings = torch.nn.functional.normalize(torch.randn(8, 32, generator=g), dim=-1)
    empty = torch.nn.functional.normalize(torch.randn(1, 32, generator=g), dim=-1)

    class Blind(torch.nn.Module):
        def forward(self, x, t, encoder_hidden_states=None, class_labels=None):
            return type("Out", (), {"sample": 0.5 * x})()

    blind = tg.condition_use(Blind(), latents, embeddings, empty, alphas)
    assert blind["own"] == blind["other"] == blind["empty"] and blind["gain"] == 0.0

    class Told(torch.nn.Module):  # recognises each example by its embedding and knows its clean latent, which
        def forward(self, x, t, encoder_hidden_states=None, class_labels=None):  # is the -sigma * clean of the v target
            similarity = class_labels @ embeddings.T
            known = similarity.max(dim=1).values.gt(0.99)[:, None, None, None]
            sigma = (1 - alphas[t]).sqrt()[:, None, None, None]
            return type("Out", (), {"sample": -sigma * latents[similarity.argmax(dim=1)] * known})()

    told = tg.condition_use(Told(), latents, embeddings, empty, alphas, "v_prediction")
    assert told["own"] < 0.5 * told["other"] and told["gain"] > 0.5
    assert told["own"] < told["empty"]


def test_v_prediction_and_a_larger_condition_projection(trained, tmp_path, clips_csv):
    """unet.prediction_type=v_prediction trains and the assembled pipeline's scheduler predicts v;
    unet.class_embedding_init_std redraws the class-embedding projection at the start (after unet.init); the stage
    logs the condition use at its start and end."""
    import shutil

    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    cfg, results, _, tclap_dir = trained
    shutil.copytree(cfg.out / "vae", tmp_path / "run" / "vae")
    shutil.copytree(cfg.out / "vocoder", tmp_path / "run" / "vocoder")
    tuned = tiny_config(tmp_path, clips_csv, tclap_dir, f"unet.init={results['assemble']}", "unet.learning_rate=0",
                        "unet.ema_decay=0", "unet.steps=2", "unet.prediction_type=v_prediction",
                        "unet.class_embedding_init_std=1.0")
    result = tg.train_unet(tuned)
    from safetensors.torch import load_file

    weight = load_file(next(Path(result.model_dir).glob("*.safetensors")))["class_embedding.weight"]
    assert 0.8 < float(weight.std()) < 1.2  # redrawn at std 1 (lr 0 keeps it), not diffusers' ~0.1 for 32 inputs
    events = [json.loads(line) for line in (tmp_path / "run" / "unet" / "log.jsonl").read_text().splitlines()]
    uses = [e for e in events if str(e.get("event", "")).startswith("condition use")]
    assert [e["event"] for e in uses] == ["condition use at start", "condition use at end"]
    assert all(math.isfinite(e["own"]) and math.isfinite(e["gain"]) for e in uses)
    folder = tg.assemble(tuned)
    pipe = TClapAudioLDMPipeline.from_pretrained(str(folder))
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    out = pipe("glass smashing", num_inference_steps=2, audio_length_in_s=1.0, generator=torch.Generator().manual_seed(0))
    assert np.isfinite(out.audios).all()
    for bad, name in (("unet.prediction_type=sample", "unet.prediction_type"), ("unet.class_embedding_init_std=0",
                                                                                  "unet.class_embedding_init_std")):
        with pytest.raises(tg.ConfigError, match=name):
            tiny_config(tmp_path, clips_csv, tclap_dir, bad)


def test_wavebank_crops_pad_short_clips_with_silence():
    long, short = np.ones(1000, np.float32), np.full(100, 0.5, np.float32)
    bank = tg.WaveBank([long, short], "cpu")
    crops = bank.sample(64, 300, torch.Generator().manual_seed(0), gain_db=(0.0, 0.0))
    assert crops.shape == (64, 300)
    values = set(torch.unique(crops).tolist())
    assert values <= {0.0, 0.5, 1.0} and {0.5, 1.0} <= values
    from_short = crops[(crops == 0.5).any(1)]
    assert ((from_short == 0.5).sum(1) == 100).all()  # the whole short clip, somewhere in silence
    same = bank.sample(64, 300, torch.Generator().manual_seed(0), gain_db=(0.0, 0.0))
    assert torch.equal(crops, same)


def test_multi_resolution_stft_loss():
    wave = torch.randn(2, 4000)
    resolutions = [[256, 32, 128], [512, 64, 256]]
    assert tg.multi_resolution_stft_loss(wave, wave, resolutions) < 1e-4
    assert tg.multi_resolution_stft_loss(wave * 0.5, wave, resolutions) > 0.3


def test_config_errors(tmp_path, clips_csv):
    with pytest.raises(tg.ConfigError, match="vae.crop_frame"):
        tg.load_config(TINY, ["vae.crop_frame=3"])
    with pytest.raises(tg.ConfigError, match="upsample_rates"):
        tg.load_config(TINY, ["vocoder.upsample_rates=[4, 4]"])
    with pytest.raises(tg.ConfigError, match="vocoder.kind"):
        tg.load_config(TINY, ["vocoder.kind=wavenet"])
    with pytest.raises(tg.ConfigError, match="learning_rate"):
        tg.load_config(TINY, ["vae.learning_rate=fast"])
    with pytest.raises(FileNotFoundError, match="no-such-recipe"):
        tg.load_config("no-such-recipe.yaml")
    # --data-root is ${DATA} (the tiny recipe names its own folder; the mini one says root: ${DATA})
    cfg = tg.load_config(TINY, [f"output_dir={tmp_path}", "data.root=${DATA}"], data_root=tmp_path / "nowhere")
    assert cfg.data.root == str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        tg.train_records(cfg.data)
    with pytest.raises(tg.ConfigError, match="unet.tclap"):
        tg.train_unet(tg.load_config(TINY, [f"output_dir={tmp_path}", f"data.root={clips_csv.parent}"]))


def test_cli_reports_a_bad_data_root(tmp_path, capsys):
    code = tg.main(["--config", str(TINY), "--stage", "vae", "--data-root", str(tmp_path / "missing"),
                    "--set", "data.root=${DATA}", "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "metadata.csv" in capsys.readouterr().err


def test_install_builtin_copies_all_but_the_shared_parts(trained, tmp_path):
    """training/recipes/install_builtin.py: a float16 pipeline becomes weights/NAME; mini-clap leaves out what it
    shares with mini; float32 folders, unknown names and non-pipelines are refused with nothing written."""
    import subprocess
    import sys

    cfg, results, _, _ = trained
    script = Path(__file__).resolve().parent.parent / "training" / "recipes" / "install_builtin.py"

    def install(*args):
        return subprocess.run([sys.executable, str(script), *args, "--weights-dir", str(tmp_path / "w")],
                              capture_output=True, text=True, timeout=300)

    cfg16 = tg.load_config(TINY, [f"output_dir={cfg.out}", f"unet.tclap={cfg.unet.tclap}", f"assemble.output={tmp_path / 'p16'}"])
    folder = tg.assemble(cfg16, fp16_weights=True)
    for name, expected in (("mini", {"vae", "vocoder", "unet", "tclap"}), ("mini-clap", {"unet", "tclap"})):
        assert install(str(folder), name).returncode == 0
        parts = {p.name for p in (tmp_path / "w" / name).iterdir() if p.is_dir()}
        assert expected <= parts and not ({"vae", "vocoder"} - expected) & parts
        assert (tmp_path / "w" / name / "scheduler" / "scheduler_config.json").is_file()
    refused = [install(str(results["assemble"]), "mini"), install(str(folder), "maxi"), install(str(tmp_path), "mini")]
    assert [r.returncode for r in refused] == [2, 2, 2]
    assert "--fp16-weights" in refused[0].stderr and "'maxi'" in refused[1].stderr and "not a pipeline" in refused[2].stderr
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["mini", "mini-clap"]  # no temporary folder left
