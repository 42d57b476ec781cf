"""Diffusers pipelines conditioned on a T-CLAP (installed as tclap_gen.pipelines)."""

from .pipeline_tclap_audioldm import TClapAudioLDMPipeline, TClapAudioLDMPipelineOutput

__all__ = ["TClapAudioLDMPipeline", "TClapAudioLDMPipelineOutput"]
