"""EarthGPT-X in transformers conventions.

``EgxForConditionalGeneration`` wires the parts in ``modeling/`` together:

    pixel_values --SourceStems + ConvNeXt (+ViT)--> EgxImageFeatures (cached per view)
    prompt masks --SpatialPromptEncoder--> prompt tokens
    image grid x prompt tokens --HybridFusion (+ skip from the image grid)--> fused grid
    fused grid --ImageProjector--> <image> tokens;  fused grid x prompts --RegionProjector--> <region> tokens
    text + image + region embeddings --causal LM--> text, [SEG] / [DET] hidden states
    [SEG] --SegMaskHead (SAM decoder + full-res refinement)--> mask
    [DET] --DetectionHead (FiLM CenterNet at stride 4)--> boxes + class mask
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedModel

from .configuration_egx import EgxConfig
from .geometry import EgxInputError
from .modeling.detection_head import DetectionHead, ZeroConv2d
from .modeling.fusion import FusionSkip, HybridFusion
from .modeling.generation import greedy_generate
from .modeling.losses import centre_losses, mask_losses
from .modeling.mask_decoder import SegMaskHead
from .modeling.outputs import EgxGenerateOutput, EgxImageFeatures, EgxOutput
from .modeling.projector import DetailProjection, ImageProjector, RegionProjector
from .modeling.prompt_encoder import SpatialPromptEncoder
from .modeling.vision_encoder import MixedVisionEncoder

__all__ = ["EgxPreTrainedModel", "EgxForConditionalGeneration"]

LOSS_TERMS = ("lm", "mask_bce", "mask_dice", "det_heatmap", "det_size", "det_offset", "det_mask_bce",
              "det_mask_dice", "region_cls", "source_cls")


def _require_safetensors(path) -> None:
    p = Path(path)
    if p.is_dir() and not any(p.glob("*.safetensors")):
        found = sorted(f.name for f in p.iterdir() if f.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        raise EgxInputError(
            f"{p} holds no .safetensors weights{' (found ' + ', '.join(found) + ')' if found else ''}; "
            "EarthGPT-X loads safetensors only. Convert the checkpoint with "
            "`model.save_pretrained(path, safe_serialization=True)` in a trusted environment.")


class EgxPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading conventions (safetensors only)."""

    config_class = EgxConfig
    config: EgxConfig
    base_model_prefix = "egx"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, (FusionSkip, DetailProjection, ZeroConv2d)):  # also on a warm start that lacks them:
            module.weight.zero_()  # they start as no-ops
            module.bias.zero_()

    @torch.no_grad()
    def init_weights(self):
        # The generic init zeroes every conv bias and normal-inits FiLM; the grounding head
        # needs its CenterNet prior (p=0.1) and an identity FiLM, or the first steps drown in
        # heatmap loss. Loaded checkpoints overwrite these values as usual.
        super().init_weights()
        for module in self.modules():
            if isinstance(module, DetectionHead):
                module.film.weight.zero_()
                module.film.bias.zero_()
                module.heatmap.bias.fill_(-2.19)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Load from a local folder of safetensors weights (``.bin``/pickle is refused)."""
        if kwargs.get("use_safetensors") is False:
            raise EgxInputError("EarthGPT-X loads safetensors only; do not pass use_safetensors=False")
        kwargs["use_safetensors"] = True
        if os.path.exists(pretrained_model_name_or_path):
            _require_safetensors(pretrained_model_name_or_path)
            kwargs.setdefault("local_files_only", True)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


class EgxForConditionalGeneration(EgxPreTrainedModel):
    """EarthGPT-X: multi-source image + visual prompts + text in, text + boxes + masks out.

    Parameters
    ----------
    config : EgxConfig
    language_model : PreTrainedModel, optional
        A ready causal LM (``from_components`` passes pretrained ones); built from
        ``config.text_config`` when omitted.
    """

    def __init__(self, config: EgxConfig, language_model: PreTrainedModel | None = None):
        super().__init__(config)
        config.prompt_config.image_size = config.image_size
        self.vision = MixedVisionEncoder(config)
        self.prompt_encoder = SpatialPromptEncoder(config)
        self.fusion = HybridFusion(config)
        self.language_model = (language_model if language_model is not None
                               else AutoModelForCausalLM.from_config(config.text_config))
        hidden = self.language_model.config.hidden_size
        self.image_projector = ImageProjector(config, hidden)
        self.region_projector = RegionProjector(config, hidden, self.vision.channels[:2])
        # training-only probes: they make the LLM's visual tokens carry the region's class
        # and the image's source, so the answer cannot be guessed from the text alone
        self.region_classifier = nn.Linear(hidden, config.num_region_classes)
        self.source_classifier = nn.Linear(hidden, config.num_sources)
        self.seg_head = SegMaskHead(config, hidden, self.vision.channels[0])
        self.det_head = DetectionHead(config, hidden, self.vision.channels)
        self.post_init()

    # ------------------------------------------------------------------ plumbing
    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    def _check_ids(self, input_ids: torch.Tensor, n_regions: torch.Tensor) -> None:
        c = self.config
        n_img = (input_ids == c.image_token_id).sum(-1)
        if (n_img != c.image_seq_length).any():
            raise EgxInputError(
                f"each row needs exactly {c.image_seq_length} <image> tokens, got {n_img.tolist()}; "
                "build the text with EgxProcessor.build_inputs from this checkpoint's processor")
        n_reg = (input_ids == c.region_token_id).sum(-1)
        if (n_reg != n_regions).any():
            raise EgxInputError(
                f"the text has {n_reg.tolist()} <region> placeholders but {n_regions.tolist()} prompts were "
                "given; pass n_regions=len(prompts) to build_inputs")

    @torch.no_grad()
    def encode_images(self, pixel_values: torch.Tensor, source_ids: torch.Tensor,
                      valid_mask: torch.Tensor, view_scale: torch.Tensor | None = None) -> EgxImageFeatures:
        """Encode views once; the result is reused by every follow-up prompt.

        Parameters
        ----------
        pixel_values : (B, 3, S, S) float from ``EgxProcessor.preprocess_image``.
        source_ids : (B,) long, 0 optical, 1 SAR, 2 infrared.
        valid_mask : (B, 1, S, S) float, 1 on valid data.
        view_scale : (B,) float, optional
            Raster pixels per canvas pixel (``ImageInputs.view_scale``); None reads as 1.
            Used by models with ``config.region_scale``.
        """
        return self._encode(pixel_values, source_ids, valid_mask, view_scale)

    def _encode(self, pixel_values, source_ids, valid_mask, view_scale=None) -> EgxImageFeatures:
        dtype = self.vision.stems.source_embedding.weight.dtype
        s = self.config.image_size
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 3 or tuple(pixel_values.shape[-2:]) != (s, s):
            raise EgxInputError(f"pixel_values must be (B, 3, {s}, {s}); got {tuple(pixel_values.shape)}. "
                                "Use EgxProcessor.preprocess_image from this checkpoint")
        feats = self.vision(pixel_values.to(dtype), source_ids.long(), valid_mask.to(dtype))
        if view_scale is not None:
            view_scale = torch.as_tensor(view_scale, dtype=torch.float32, device=pixel_values.device).reshape(-1)
            if view_scale.shape[0] != pixel_values.shape[0] or not bool((view_scale > 0).all()):
                raise EgxInputError(f"view_scale must hold one positive number per image; got {view_scale.tolist()}")
            feats.view_scale = view_scale
        return feats

    def _features(self, image_features, pixel_values, source_ids, valid_mask, batch: int,
                  view_scale=None) -> EgxImageFeatures:
        if image_features is None:
            if pixel_values is None:
                raise EgxInputError("pass image_features (from encode_images) or pixel_values")
            image_features = self._encode(pixel_values, source_ids, valid_mask, view_scale)
        elif view_scale is not None:
            raise EgxInputError("view_scale goes with pixel_values: pass it to encode_images, whose features "
                                "carry it to every prompt")
        if image_features.batch_size == batch:
            return image_features
        if image_features.batch_size == 1:
            return image_features.select(torch.zeros(batch, dtype=torch.long, device=image_features.grid.device))
        raise EgxInputError(f"{image_features.batch_size} images for {batch} text rows; pass 1 or {batch}")

    def _prompts(self, prompt_masks, prompt_valid, batch: int, ref: torch.Tensor):
        s = self.config.image_size
        if prompt_masks is None:
            prompt_masks = ref.new_zeros(batch, 0, s, s)
        if prompt_masks.ndim != 4 or tuple(prompt_masks.shape[-2:]) != (s, s):
            raise EgxInputError(f"prompt_masks must be (B, K, {s}, {s}); got {tuple(prompt_masks.shape)}")
        if prompt_masks.shape[0] == 1 and batch > 1:
            prompt_masks = prompt_masks.expand(batch, -1, -1, -1)
        prompt_masks = prompt_masks.to(ref.dtype)
        if prompt_valid is None:
            prompt_valid = torch.ones(prompt_masks.shape[:2], dtype=torch.bool, device=ref.device)
        elif prompt_valid.shape[0] == 1 and batch > 1:
            prompt_valid = prompt_valid.expand(batch, -1)
        return prompt_masks, prompt_valid.bool()

    def prepare_inputs_embeds(self, feats: EgxImageFeatures, input_ids: torch.Tensor,
                              prompt_masks: torch.Tensor, prompt_valid: torch.Tensor):
        """LLM input embeddings with image and region tokens in place, plus the fused grid."""
        embeds, fused, _, _ = self._visual_embeds(feats, input_ids, prompt_masks, prompt_valid)
        return embeds, fused

    def _visual_embeds(self, feats, input_ids, prompt_masks, prompt_valid):
        self._check_ids(input_ids, prompt_valid.sum(-1))
        prompt_tokens = self.prompt_encoder(prompt_masks)
        fused, prompt_tokens = self.fusion(feats.grid, prompt_tokens, prompt_valid)
        embeds = self.get_input_embeddings()(input_ids)
        image_tokens = self.image_projector(fused).to(embeds.dtype)
        embeds = embeds.masked_scatter((input_ids == self.config.image_token_id)[..., None], image_tokens)
        regions = None
        if prompt_masks.shape[1]:
            regions = self.region_projector(fused, prompt_masks, prompt_tokens, feats.s4, feats.s8,
                                            feats.stem, feats.view_scale).to(embeds.dtype)
            embeds = embeds.masked_scatter((input_ids == self.config.region_token_id)[..., None],
                                           regions[prompt_valid])
        return embeds, fused, image_tokens, regions

    @staticmethod
    def _position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
        return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)

    def _prompt_union(self, prompt_masks, prompt_valid) -> torch.Tensor | None:
        if prompt_masks.shape[1] == 0:
            return None
        return (prompt_masks * prompt_valid[:, :, None, None]).amax(1, keepdim=True)

    def run_seg(self, rows: torch.Tensor, hidden: torch.Tensor, feats: EgxImageFeatures, fused,
                union) -> torch.Tensor:
        """Mask logits (N, S, S) for [SEG] hidden states ``hidden`` of batch rows ``rows``.

        Without gradients the view's share of the full-resolution refinement is computed
        once and kept on ``feats`` (``seg_view``), so a follow-up prompt on a cached view
        pays only for its own mask; a batch where only some rows ask for a mask (evaluation)
        computes it for those rows and keeps nothing. With gradients (training) it is
        computed for ``rows`` on each call and not kept.
        """
        prompt = None
        if union is not None:
            prompt = union[rows]
        view = self._view_term(feats, "seg_view", rows, lambda i: self.seg_head.view_term(feats.s4[i], feats.stem[i]))
        return self.seg_head(hidden, fused[rows], prompt, feats.s4[rows], feats.stem[rows], view=view)

    def run_det(self, rows: torch.Tensor, hidden: torch.Tensor, feats: EgxImageFeatures, fused) -> dict:
        """Raw grounding maps for [DET] hidden states of batch rows ``rows``.

        The head's own backbone or branch (``config.det_backbone``, ``config.det_branch``)
        reads the view alone; without
        gradients it is computed once and kept on ``feats`` (``det_view``), as ``run_seg``
        keeps ``seg_view``.
        """
        view = None
        if self.det_head.reads_view:
            view = self._view_term(feats, "det_view", rows, lambda i: self.det_head.view_term(feats.stem[i]))
        return self.det_head(hidden, feats.s4[rows], feats.s8[rows], feats.s16[rows], fused[rows], feats.stem[rows],
                             view=view)

    @staticmethod
    def _view_term(feats: EgxImageFeatures, name: str, rows: torch.Tensor, compute):
        """A head's query-free share of the work for batch rows ``rows``: ``compute(index)``
        over those views. Without gradients the whole batch's term is kept on ``feats.<name>``
        for follow-up prompts, unless only some rows ask (an evaluation batch), which compute
        theirs and keep nothing. With gradients (training) None: the head computes its own."""
        if torch.is_grad_enabled():
            return None
        cached = getattr(feats, name)
        if cached is None:
            asked, row_of = torch.unique(rows, return_inverse=True)
            if len(asked) < feats.s4.shape[0]:
                return compute(asked)[row_of]
            cached = compute(torch.arange(feats.s4.shape[0], device=rows.device))
            setattr(feats, name, cached)
        return cached[rows]

    # ------------------------------------------------------------------ training
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, source_ids: torch.Tensor | None = None,
                valid_mask: torch.Tensor | None = None, image_features: EgxImageFeatures | None = None,
                prompt_masks: torch.Tensor | None = None, prompt_valid: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, seg_masks: torch.Tensor | None = None,
                seg_valid: torch.Tensor | None = None, det_boxes: torch.Tensor | None = None,
                det_box_valid: torch.Tensor | None = None, det_masks: torch.Tensor | None = None,
                det_valid: torch.Tensor | None = None, region_labels: torch.Tensor | None = None,
                view_scale: torch.Tensor | None = None, **kwargs) -> EgxOutput:
        """Teacher-forced pass; with ``labels`` (and pixel targets) returns the one-stage loss.

        Loss = ``lm_loss_weight`` * LM cross-entropy + mask BCE/Dice for each ``[SEG]``
        + focal heatmap, size and offset L1 and class-mask BCE/Dice for each ``[DET]``
        + ``aux_loss_weight`` * (cross-entropy of the region classifier on the region tokens
        against ``region_labels`` (B, K), -100 where unknown, and of the source classifier
        on the mean image token).
        ``loss_terms`` holds every term (zero where a batch has no such target).
        ``view_scale`` (B,): raster pixels per canvas pixel, as in ``encode_images``.
        As in ``generate``, the rows may share one view (``pixel_values`` or
        ``image_features`` with batch 1) or have one each.
        """
        c = self.config
        b = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        feats = self._features(image_features, pixel_values, source_ids, valid_mask, b, view_scale)
        prompt_masks, prompt_valid = self._prompts(prompt_masks, prompt_valid, b, feats.grid)
        embeds, fused, image_tokens, regions = self._visual_embeds(feats, input_ids, prompt_masks, prompt_valid)
        out = self.language_model(inputs_embeds=embeds, attention_mask=attention_mask,
                                  position_ids=self._position_ids(attention_mask), use_cache=False,
                                  output_hidden_states=True)
        logits, last = out.logits, out.hidden_states[-1]
        zero = logits.new_zeros(()).float()
        terms = {k: zero for k in LOSS_TERMS}
        if labels is not None:
            shift_logits = logits[:, :-1].float()
            shift_labels = labels[:, 1:].to(logits.device)
            terms["lm"] = nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]),
                                                      shift_labels.reshape(-1), ignore_index=-100)
            terms["source_cls"] = nn.functional.cross_entropy(
                self.source_classifier(image_tokens.mean(1)).float(), feats.source_ids.long())
            if regions is not None and region_labels is not None:
                region_labels = region_labels[:, : regions.shape[1]]
                known = prompt_valid & (region_labels >= 0)
                if known.any():
                    terms["region_cls"] = nn.functional.cross_entropy(
                        self.region_classifier(regions[known]).float(), region_labels[known])
        union = self._prompt_union(prompt_masks, prompt_valid)
        seg_logits = det_heat = None
        seg_rows, seg_cols = (input_ids == c.seg_token_id).nonzero(as_tuple=True)
        if len(seg_rows):
            seg_logits = self.run_seg(seg_rows, last[seg_rows, seg_cols], feats, fused, union)
            if seg_masks is not None:
                ok = seg_valid[seg_rows].bool() if seg_valid is not None else torch.ones_like(seg_rows, dtype=torch.bool)
                if ok.any():
                    bce, dice = mask_losses(seg_logits[ok], seg_masks[seg_rows[ok], 0])
                    terms["mask_bce"], terms["mask_dice"] = bce, dice
        det_rows, det_cols = (input_ids == c.det_token_id).nonzero(as_tuple=True)
        if len(det_rows):
            maps = self.run_det(det_rows, last[det_rows, det_cols], feats, fused)
            det_heat = maps["heatmap"]
            if det_boxes is not None:
                terms.update(self._det_losses(maps, det_rows, det_boxes, det_box_valid, det_masks, det_valid))
        weights = self.loss_weights()
        loss = sum(weights[k] * v for k, v in terms.items()) if labels is not None else None
        return EgxOutput(loss=loss, loss_terms={k: v.detach() for k, v in terms.items()}, logits=logits,
                         seg_logits=seg_logits, det_heatmap=det_heat)

    def loss_weights(self) -> dict[str, float]:
        """The weight of each term of ``LOSS_TERMS`` in the one-stage loss (from the config)."""
        c = self.config
        return {"lm": c.lm_loss_weight, "mask_bce": c.mask_bce_weight, "mask_dice": c.mask_dice_weight,
                "det_heatmap": c.det_heatmap_weight, "det_size": c.det_size_weight,
                "det_offset": c.det_offset_weight, "det_mask_bce": c.det_mask_weight,
                "det_mask_dice": c.det_mask_weight, "region_cls": c.aux_loss_weight,
                "source_cls": c.aux_loss_weight}

    def _det_losses(self, maps, rows, det_boxes, det_box_valid, det_masks, det_valid) -> dict:
        c = self.config
        ok = det_valid[rows].bool() if det_valid is not None else torch.ones_like(rows, dtype=torch.bool)
        if not ok.any():
            return {}
        boxes = [det_boxes[r] if det_box_valid is None else det_boxes[r][det_box_valid[r].bool()]
                 for r in rows.tolist()]
        heat, l_size, l_off = centre_losses(maps["heatmap"][:, 0], maps["size"], maps["offset"], boxes,
                                            c.det_stride, c.det_gaussian_min_radius, c.focal_alpha, c.focal_beta,
                                            use=ok)
        terms = {"det_heatmap": heat, "det_size": l_size, "det_offset": l_off}
        if det_masks is not None:
            bce, dice = mask_losses(maps["mask"][ok], det_masks[rows[ok], 0])
            terms["det_mask_bce"], terms["det_mask_dice"] = bce, dice
        return terms

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 image_features: EgxImageFeatures | None = None, pixel_values: torch.Tensor | None = None,
                 source_ids: torch.Tensor | None = None, valid_mask: torch.Tensor | None = None,
                 prompt_masks: torch.Tensor | None = None, prompt_valid: torch.Tensor | None = None,
                 max_new_tokens: int = 48, det_score_threshold: float | None = None,
                 view_scale: torch.Tensor | None = None, **kwargs) -> EgxGenerateOutput:
        """Greedy decoding with a KV cache, then the pixel heads for each ``[SEG]``/``[DET]``.

        ``det_score_threshold`` overrides ``config.det_score_threshold`` for this call.

        Rows of ``input_ids`` (left-padded, see ``EgxProcessor.pad``) may share one
        encoded view (``image_features`` with batch 1) or have one each. Decoding
        stops at ``<|end|>``. Boxes are returned in canvas pixels; map them to the
        view with ``EgxProcessor.post_process``.
        """
        b = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        feats = self._features(image_features, pixel_values, source_ids, valid_mask, b, view_scale)
        prompt_masks, prompt_valid = self._prompts(prompt_masks, prompt_valid, b, feats.grid)
        embeds, fused = self.prepare_inputs_embeds(feats, input_ids, prompt_masks, prompt_valid)
        sequences, hits = greedy_generate(self, embeds, attention_mask, max_new_tokens)
        union = self._prompt_union(prompt_masks, prompt_valid)
        c, s = self.config, self.config.image_size
        boxes = [torch.zeros(0, 4) for _ in range(b)]
        scores = [torch.zeros(0) for _ in range(b)]
        box_masks = [torch.zeros(0, s, s) for _ in range(b)]
        seg_masks = [torch.zeros(0, s, s) for _ in range(b)]
        for kind in ("seg", "det"):
            items = [(r, h) for r, k, h in hits if k == kind]
            if not items:
                continue
            rows = torch.tensor([r for r, _ in items], device=fused.device)
            hidden = torch.stack([h for _, h in items])
            if kind == "seg":
                logits = self.run_seg(rows, hidden, feats, fused, union).float().cpu()
                for i, r in enumerate(rows.tolist()):
                    seg_masks[r] = torch.cat([seg_masks[r], logits[i: i + 1]])
            else:
                maps = self.run_det(rows, hidden, feats, fused)
                threshold = c.det_score_threshold if det_score_threshold is None else det_score_threshold
                decoded = self.det_head.decode(maps, threshold, c.det_max_detections,
                                               c.det_nms_kernel, c.det_min_box, canvas=s,
                                               valid_mask=feats.valid_mask[rows])
                for i, r in enumerate(rows.tolist()):
                    bx, sc = decoded[i]
                    boxes[r] = torch.cat([boxes[r], bx.cpu()])
                    scores[r] = torch.cat([scores[r], sc.cpu()])
                    m = maps["mask"][i].float().cpu()
                    box_masks[r] = torch.cat([box_masks[r], m.expand(len(bx), -1, -1)])
        return EgxGenerateOutput(sequences=sequences.cpu(), prompt_ids=input_ids.cpu(), boxes=boxes,
                                 scores=scores, box_mask_logits=box_masks, seg_mask_logits=seg_masks)

    # ------------------------------------------------------------------ building from parts
    @classmethod
    def from_components(cls, vision: str | os.PathLike, llm: str | os.PathLike,
                        mask_decoder: str | os.PathLike | None = None, tokenizer=None,
                        **config_overrides) -> "EgxForConditionalGeneration":
        """Build an EarthGPT-X from local transformers checkpoints (safetensors only).

        Parameters
        ----------
        vision : path
            A ConvNeXt checkpoint (``ConvNextModel`` or a classifier); becomes the CNN backbone.
        llm : path
            Any causal LM checkpoint; becomes the language model.
        mask_decoder : path, optional
            A SAM checkpoint (``SamModel``); its mask decoder weights seed the [SEG] head.
        tokenizer : PreTrainedTokenizer, optional
            The tokenizer the processor will use (e.g. ``EgxProcessor.tokenizer``); the
            LLM's embeddings are resized to it and the special token ids are taken from it.
        **config_overrides
            Further ``EgxConfig`` fields (``image_size``, ``fusion_dim``, ...).

        The fusion width, projectors and heads are sized to fit the loaded parts; they
        and the stems, prompt encoder and fusion start from random initialisation.
        """
        from transformers import AutoConfig, ConvNextBackbone

        for p in (vision, llm, mask_decoder):
            if p is not None:
                _require_safetensors(p)
        load = dict(local_files_only=True, use_safetensors=True)
        vcfg = AutoConfig.from_pretrained(vision, local_files_only=True)
        vcfg = getattr(vcfg, "vision_config", vcfg)
        lm = AutoModelForCausalLM.from_pretrained(llm, **load)
        kw = dict(vision_config=vcfg.to_dict(), text_config=lm.config.to_dict(),
                  stem_width=max(16, vcfg.num_channels))
        if mask_decoder is not None:
            mcfg = AutoConfig.from_pretrained(mask_decoder, local_files_only=True)
            kw["mask_decoder_config"] = getattr(mcfg, "mask_decoder_config", mcfg).to_dict()
        kw.update(config_overrides)
        config = EgxConfig(**kw)
        if tokenizer is not None:
            from .tokenization_egx import add_egx_tokens

            add_egx_tokens(tokenizer)
            lm.resize_token_embeddings(len(tokenizer))
            ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
                ("pad_token_id", tokenizer.pad_token), ("end_token_id", "<|end|>"), ("image_token_id", "<image>"),
                ("region_token_id", "<region>"), ("seg_token_id", "[SEG]"), ("det_token_id", "[DET]"))}
            for k, v in ids.items():
                setattr(config, k, v)
            config.text_config = lm.config
        model = cls(config, language_model=lm)
        backbone = ConvNextBackbone.from_pretrained(vision, out_indices=[1, 2, 3], **load)
        missing = model.vision.backbone.load_state_dict(backbone.state_dict(), strict=False)
        if missing.unexpected_keys:
            raise EgxInputError(f"{vision} does not fit a ConvNeXt backbone: {missing.unexpected_keys[:5]}")
        if mask_decoder is not None:
            from transformers import SamModel

            sam = SamModel.from_pretrained(mask_decoder, **load)
            model.seg_head.decoder.load_state_dict(sam.mask_decoder.state_dict())
            model.seg_head.pos.load_state_dict(sam.shared_image_embedding.state_dict())
        return model
