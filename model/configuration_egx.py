"""Configuration of EarthGPT-X: every hyperparameter named, with its default.

``EgxConfig()`` is the small default shape shipped in the package (< 10M parameters);
``EgxConfig.tiny()`` is a miniature for tests and smoke training. Larger models
swap the sub-configs (or use ``EgxForConditionalGeneration.from_components``).
"""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig, SamMaskDecoderConfig
from transformers.configuration_utils import SubConfigSpec

from .data.vocabulary import REGION_CLASSES

__all__ = ["EgxConfig"]

_VISION = dict(num_channels=16, patch_size=4, num_stages=3, hidden_sizes=[48, 96, 192], depths=[2, 2, 3],
               out_indices=[1, 2, 3], image_size=256, drop_path_rate=0.0)
_PROMPT = dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=4, intermediate_size=192,
               image_size=256, patch_size=16, num_channels=1)
_TEXT = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
             intermediate_size=688, max_position_embeddings=512, vocab_size=1200, tie_word_embeddings=True,
             bos_token_id=1, eos_token_id=2, pad_token_id=0, rms_norm_eps=1e-5)
_MASK = dict(hidden_size=128, mlp_dim=512, num_hidden_layers=2, num_attention_heads=4,
             num_multimask_outputs=1, iou_head_hidden_dim=64, iou_head_depth=2)


class EgxConfig(PreTrainedConfig):
    r"""Configuration of :class:`EgxForConditionalGeneration`.

    Sub-configs
    -----------
    vision_config : ConvNextConfig
        The CNN backbone; its ``num_channels`` is what the per-source stems feed it and
        its stages 1-3 give stride 4/8/16 features.
    vit_config : ViT/Dinov2 config or None
        Optional second backbone of the mixed encoder (run on the same stem output,
        its patch grid resampled to stride 16 and concatenated with the CNN's).
    prompt_config : ViTConfig
        The spatial-aware prompt encoder (one channel: the rasterised prompt).
    text_config : any causal LM config
        The LLM (default Llama, 256 wide, 4 layers).
    mask_decoder_config : SamMaskDecoderConfig
        The SAM-style mask decoder prompted by ``[SEG]``.

    Every other field is a named hyperparameter; see the inline comments.
    """

    model_type = "egx"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="convnext", init_kwargs=_VISION),
        "vit_config": SubConfigSpec(config_class=AutoConfig, model_type="dinov2", optional=True),
        "prompt_config": SubConfigSpec(config_class=AutoConfig, model_type="vit", init_kwargs=_PROMPT),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=_TEXT),
        "mask_decoder_config": SubConfigSpec(config_class=SamMaskDecoderConfig, init_kwargs=_MASK),
    }

    vision_config: dict | PreTrainedConfig | None = None
    vit_config: dict | PreTrainedConfig | None = None
    prompt_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    mask_decoder_config: dict | PreTrainedConfig | None = None

    image_size: int = 256  # side of the square model canvas
    num_sources: int = 3  # optical, sar, infrared
    stem_width: int = 16  # channels of the full-resolution per-source stems
    fusion_dim: int = 128  # width of the stride-16 fusion transformer
    fusion_layers: int = 1  # hybrid fusion blocks
    fusion_heads: int = 4
    fusion_mlp_ratio: float = 2.0
    # a learned linear skip from the pre-fusion grid into the fused output: without it the
    # fusion's shared (image-wide) component drowned the spatial detail of low-contrast
    # scenes under the final LayerNorm. False keeps checkpoints trained without it unchanged.
    fusion_skip: bool = False
    # region tokens also pool the stride-4 and stride-8 backbone features (through a
    # zero-initialised linear map): thermal people and infrared targets cover less than one
    # stride-16 cell. False keeps checkpoints trained without it unchanged.
    region_detail: bool = False
    # > 0: region tokens also take the stride-4, stride-8 and stem features RoI-aligned over
    # the prompt's box on a region_roi x region_roi grid (the object's layout, which the masked
    # average drops), through a zero-initialised linear map. 0 keeps earlier checkpoints unchanged.
    region_roi: int = 0
    # region tokens also get the view's zoom, log2 of raster pixels per canvas pixel, as fixed
    # sine features through a zero-initialised linear map (ViewScale): zoom windows scale with
    # the prompt, so without it an object's size in raster pixels (a car against a bicycle in
    # a thermal chip) is lost. False keeps earlier checkpoints unchanged.
    region_scale: bool = False
    # the [SEG] mask decoder also gets the prompts' bounding box as two SAM corner tokens
    # (positional encoding of each corner plus a learned corner embedding), as SAM prompts
    # its decoder; without them the prompt's place reached it only as a stride-16 dense map.
    seg_box_tokens: bool = False
    llm_image_grid: int = 8  # the stride-16 grid is pooled to llm_image_grid^2 LLM image tokens
    max_regions: int = 8  # learned region-index embeddings (region 1 ... region max_regions)
    point_radius: float = 3.0  # canvas pixels of the disc a point prompt becomes
    mask_refine_dim: int = 16  # channels of the high-resolution mask refinement
    det_dim: int = 64  # channels of the stride-4 grounding head
    # > 0: the grounding head's own fine features, the stem taken to stride 4 through
    # det_branch (stride 2) and 2 * det_branch (stride 4) channels, added to its stride-4
    # map through a zero-initialised 1x1 conv; det_blocks residual 3x3 blocks after FiLM,
    # their last conv zero-initialised. The grounding path underfits (train and validation
    # F1 alike, benchmarks/train_val_gap.py). 0 keeps earlier checkpoints unchanged.
    det_branch: int = 0
    # levels of the branch: 2 stops at stride 4; 4 goes on to strides 8 and 16 (4 * det_branch
    # channels) and merges them back top-down, a CenterNet-style backbone of the head's own
    det_branch_levels: int = 2
    # > 0: the grounding head reads the view through a backbone of its own (DenseBackbone over
    # the stem: det_backbone channels at stride 4, 2x at stride 8, 4x at 16 and 32) instead of
    # the shared stride-4/8/16 features and the fused grid; the query still conditions it (FiLM).
    # A dense detector of this kind trained alone is DESIGN.md's grounding calibration.
    det_backbone: int = 0
    det_blocks: int = 0
    det_score_threshold: float = 0.3
    # per-class thresholds {canonical label: score} that ``ground`` uses for those classes
    # instead of det_score_threshold (read off the validation split for the shipped model;
    # the model itself does not know which class a [DET] query asks for)
    det_class_thresholds: dict | None = None
    # per-class looks {canonical label: long side in model inputs up to which ``ground`` looks
    # at a raster whole}; a larger raster is tiled at native resolution. Classes too small to
    # survive decimation (thermal people) find more on tiles; read off the validation split
    det_class_whole_up_to: dict | None = None
    det_max_detections: int = 100
    det_nms_kernel: int = 3
    det_stride: int = 4
    det_min_box: float = 1.0  # canvas pixels
    det_gaussian_min_radius: float = 1.0  # heatmap target radius floor, stride-4 cells
    focal_alpha: float = 2.0
    focal_beta: float = 4.0
    projector_norm: bool = True  # LayerNorm on the image and region tokens given to the LLM
    num_region_classes: int = len(REGION_CLASSES)  # background + the class vocabulary (auxiliary region classifier)
    aux_loss_weight: float = 0.5  # region-class and source auxiliary losses on the LLM's visual tokens
    lm_loss_weight: float = 1.0
    mask_bce_weight: float = 1.0
    mask_dice_weight: float = 1.0
    det_heatmap_weight: float = 1.0
    det_size_weight: float = 0.1
    det_offset_weight: float = 1.0
    det_mask_weight: float = 1.0
    initializer_range: float = 0.02
    # token ids; EgxProcessor.configure sets them from its tokenizer (defaults match train_tokenizer)
    pad_token_id: int = 0
    bos_token_id: int = 1
    end_token_id: int = 2
    image_token_id: int = 6
    region_token_id: int = 7
    seg_token_id: int = 8
    det_token_id: int = 9
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.prompt_config.image_size = self.image_size
        if self.fusion_dim % self.fusion_heads:
            raise ValueError(f"fusion_dim={self.fusion_dim} must be divisible by fusion_heads={self.fusion_heads}")
        if self.image_size % 16:
            raise ValueError(f"image_size={self.image_size} must be a multiple of 16")

    @property
    def image_seq_length(self) -> int:
        """Number of LLM tokens one ``<image>`` expands to."""
        return self.llm_image_grid ** 2

    @classmethod
    def tiny(cls, **overrides) -> "EgxConfig":
        """A miniature configuration for tests and smoke training (well under 1M parameters)."""
        kw = dict(
            image_size=128, stem_width=8, fusion_dim=32, fusion_layers=1, fusion_heads=2, llm_image_grid=2,
            mask_refine_dim=8, det_dim=16,
            vision_config=dict(_VISION, num_channels=8, hidden_sizes=[16, 24, 32], depths=[1, 1, 1]),
            prompt_config=dict(_PROMPT, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64),
            text_config=dict(_TEXT, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=2, intermediate_size=128, vocab_size=400),
            mask_decoder_config=dict(_MASK, hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                     iou_head_hidden_dim=16),
        )
        kw.update(overrides)
        return cls(**kw)
