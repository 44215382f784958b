"""EgxProcessor: everything numeric about EarthGPT-X's input and output.

Value physics
    SAR: ``sar_scale`` "linear" (power) -> dB as ``10 log10(max(x, 1e-5))``; "db" as is;
    "display" (8-bit chips such as SSDD) as is; ``None`` guesses: uint8 -> display, any
    negative value -> dB, else linear. Then every source: per-band robust stretch of the
    2nd-98th percentile (NaN ignored) to [0, 1]; NaN -> 0 with ``valid_mask`` 0.
Canvas
    The view (H, W) is resized (bilinear, NaN-aware) so its longest side is
    ``image_size`` and padded bottom/right; :class:`ViewGeometry` maps back exactly.
    Channels: optical R, G, B; SAR VV, VH (VV again for single-pol), dual-pol flag
    plane; infrared band, 0, 0.
Chat template
    ``<bos>`` then per turn ``<|user|>`` [first turn: ``<image>`` x image_seq_length and
    `` region 1: <region>`` ... ``;``] `` question<|end|><|assistant|> answer<|end|>``;
    the turn being asked ends after ``<|assistant|>``. Training labels cover the
    assistant answers and their ``<|end|>`` only.
Answers
    ``[DET]`` becomes ``"3 ships found: <box>[..]</box> ..."`` (or ``"no ship found"``),
    ``[SEG]`` becomes ``"(mask 1)"``; boxes in text are ``<box>[x0,y0,x1,y1]</box>``
    with integers on 0-1000 of the view's width/height.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data.vocabulary import REGION_CLASSES, count_phrase, singular_word
from .geometry import EgxInputError, ViewGeometry, format_box, parse_boxes, rasterize_prompt

__all__ = ["EgxProcessor", "ImageInputs", "SOURCES", "TASKS", "DEFAULT_QUESTIONS"]

SOURCES = ("optical", "sar", "infrared")
SAR_SCALES = ("linear", "db", "display")
TASKS = ("caption", "classify", "vqa", "refer", "region_caption", "relation", "ground", "segment")
DEFAULT_QUESTIONS = {
    "caption": "Describe this image.",
    "classify": "What kind of scene is this?",
    "vqa": "What is in this image?",
    "refer": "What is in region 1?",
    "region_caption": "Describe region 1.",
    "relation": "What is the relation between region 1 and region 2?",
    "ground": "Find all {expression}.",
    "segment": "Segment region 1.",
}
_BANDS = {"optical": (3,), "sar": (1, 2), "infrared": (1,)}
_DB_FLOOR = 1e-5  # -50 dB
PROCESSOR_CONFIG = "processor_config.json"


@dataclass
class ImageInputs:
    """A view prepared for the model (batch of one)."""

    pixel_values: torch.Tensor  # (1, 3, S, S) float32
    source_ids: torch.Tensor  # (1,) long
    valid_mask: torch.Tensor  # (1, 1, S, S) float32
    geometry: ViewGeometry
    view_scale: torch.Tensor  # (1,) float32: raster pixels per canvas pixel


def _stretch(band: np.ndarray, lo_pct: float, hi_pct: float) -> np.ndarray:
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return band
    lo, hi = np.percentile(finite, [lo_pct, hi_pct])
    if hi - lo <= 1e-12:
        return np.where(np.isfinite(band), 0.5, np.nan)  # a flat band carries no contrast
    return np.clip((band - lo) / (hi - lo), 0.0, 1.0)


def _resize_canvas(x: np.ndarray, geometry: ViewGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, H, W) with NaN -> canvas (C, S, S) and valid mask (1, S, S), NaN-aware bilinear."""
    valid = np.isfinite(x).all(axis=0, keepdims=True).astype(np.float32)
    t = torch.from_numpy(np.where(valid > 0, x, 0.0).astype(np.float32))[None]
    v = torch.from_numpy(valid)[None]
    size = (geometry.content_height, geometry.content_width)
    antialias = size[0] < x.shape[1] or size[1] < x.shape[2]
    tv = F.interpolate(t * v, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    vv = F.interpolate(v, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    img = torch.where(vv > 1e-6, tv / vv.clamp_min(1e-6), torch.zeros_like(tv))
    s = geometry.canvas
    canvas = torch.zeros(1, x.shape[0], s, s)
    mask = torch.zeros(1, 1, s, s)
    canvas[..., : size[0], : size[1]] = img.clamp(0, 1)
    mask[..., : size[0], : size[1]] = (vv > 0.5).float()
    return canvas[0], mask[0]


def _to_canvas_mask(mask: np.ndarray, geometry: ViewGeometry) -> torch.Tensor:
    """A view-grid mask (H, W) -> soft coverage (1, S, S) on the canvas."""
    t = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
    size = (geometry.content_height, geometry.content_width)
    antialias = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    small = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    out = torch.zeros(1, geometry.canvas, geometry.canvas)
    out[0, : size[0], : size[1]] = small[0, 0].clamp(0, 1)
    return out


_GROUND_RE = re.compile(
    r"(?:find|detect|locate|show|ground|mark|count|highlight|where\s+(?:are|is))\s+"
    r"(?:me\s+)?(?:all\s+|the\s+|every\s+|each\s+|any\s+)*(?:of\s+the\s+)?([a-z][a-z \-]*?)\s*"
    r"(?:in\s+(?:this|the)\s+(?:image|view|scene))?[\.\?\!]*$", re.I)


class EgxProcessor:
    """Turns arrays, prompts and questions into model inputs and model outputs into answers.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        From :func:`train_tokenizer` or any HF tokenizer (EarthGPT-X tokens are added).
    image_size : int
        Canvas side; must equal the model's ``config.image_size``.
    image_seq_length : int
        LLM tokens per image (``config.llm_image_grid ** 2``); :meth:`configure` sets it.
    point_radius : float
        Canvas pixels of the disc a point prompt becomes.
    stretch_percentiles : (float, float)
        Robust stretch limits.
    """

    def __init__(self, tokenizer, image_size: int = 256, image_seq_length: int = 64, point_radius: float = 3.0,
                 stretch_percentiles: tuple[float, float] = (2.0, 98.0)):
        from .tokenization_egx import SPECIAL_TOKENS, add_egx_tokens

        missing = [t for t in SPECIAL_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)
                   and t != "<unk>"]
        if missing:
            add_egx_tokens(tokenizer)
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.image_seq_length = int(image_seq_length)
        self.point_radius = float(point_radius)
        self.stretch_percentiles = tuple(float(v) for v in stretch_percentiles)
        ids = tokenizer.convert_tokens_to_ids
        self.ids = {"pad": tokenizer.pad_token_id, "bos": ids("<bos>") if "<bos>" in tokenizer.get_vocab() else None,
                    "end": ids("<|end|>"), "image": ids("<image>"), "region": ids("<region>"),
                    "seg": ids("[SEG]"), "det": ids("[DET]")}

    # ------------------------------------------------------------------ config sync / io
    def configure(self, config):
        """Make ``config`` and this processor agree (canvas, token ids, vocabulary); returns config."""
        config.image_size = self.image_size
        config.prompt_config.image_size = self.image_size
        config.point_radius = self.point_radius
        self.image_seq_length = config.llm_image_grid ** 2
        config.text_config.vocab_size = len(self.tokenizer)
        for name, key in (("pad_token_id", "pad"), ("end_token_id", "end"), ("image_token_id", "image"),
                          ("region_token_id", "region"), ("seg_token_id", "seg"), ("det_token_id", "det")):
            setattr(config, name, self.ids[key])
        if self.ids["bos"] is not None:
            config.bos_token_id = self.ids["bos"]
        config.text_config.pad_token_id = self.ids["pad"]
        config.text_config.eos_token_id = self.ids["end"]
        return config

    def to_dict(self) -> dict:
        return {"processor_class": "EgxProcessor", "image_size": self.image_size,
                "image_seq_length": self.image_seq_length, "point_radius": self.point_radius,
                "stretch_percentiles": list(self.stretch_percentiles)}

    def save_pretrained(self, path) -> None:
        """Write ``tokenizer.json`` (+ tokenizer config) and ``processor_config.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(path)
        (path / PROCESSOR_CONFIG).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_pretrained(cls, path) -> "EgxProcessor":
        """Load a processor saved by :meth:`save_pretrained` (local folder only)."""
        from transformers import PreTrainedTokenizerFast

        path = Path(path)
        if not (path / PROCESSOR_CONFIG).is_file() or not (path / "tokenizer.json").is_file():
            raise EgxInputError(f"{path} has no {PROCESSOR_CONFIG} / tokenizer.json; "
                                "pass a checkpoint folder written by EgxProcessor.save_pretrained")
        cfg = json.loads((path / PROCESSOR_CONFIG).read_text())
        cfg.pop("processor_class", None)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
        return cls(tokenizer=tokenizer, **cfg)

    # ------------------------------------------------------------------ images
    def preprocess_image(self, array, source: str, sar_scale: str | None = None,
                         pixel_scale: float = 1.0) -> ImageInputs:
        """A view array (C, H, W) with NaN nodata -> model inputs on the canvas.

        ``pixel_scale`` is how many raster pixels one pixel of ``array`` spans (the view's
        decimation factor; 1 for a window read at native resolution). With the canvas's own
        resampling it gives ``ImageInputs.view_scale``, raster pixels per canvas pixel.

        Raises
        ------
        EgxInputError
            Unknown source or sar_scale, wrong band count, non-real dtype, empty view,
            a pixel_scale that is not a positive number.
        """
        if source not in SOURCES:
            raise EgxInputError(f"unknown source {source!r}; use one of {SOURCES}")
        x = np.asarray(array)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise EgxInputError(f"the view must be an array (C, H, W); got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
                or x.dtype == bool):
            raise EgxInputError(f"the view must hold real numbers; got dtype {x.dtype}")
        if x.shape[0] not in _BANDS[source]:
            raise EgxInputError(
                f"{source} input needs {' or '.join(map(str, _BANDS[source]))} band(s), got {x.shape[0]}; "
                + {"optical": "choose three bands (e.g. R, G, B)", "sar": "pass VV or VV, VH",
                   "infrared": "pass the single thermal band"}[source])
        geometry = ViewGeometry.for_view(x.shape[1], x.shape[2], self.image_size)
        if isinstance(pixel_scale, bool) or not isinstance(pixel_scale, (int, float, np.number)) or not pixel_scale > 0:
            raise EgxInputError(f"pixel_scale must be a positive number (raster pixels per view pixel), "
                                f"not {pixel_scale!r}")
        is_uint8 = x.dtype == np.uint8
        x = x.astype(np.float64)
        if source == "sar":
            x = self._sar_values(x, sar_scale, is_uint8)
        elif sar_scale is not None and sar_scale not in SAR_SCALES:
            raise EgxInputError(f"unknown sar_scale {sar_scale!r}; use one of {SAR_SCALES} or None")
        lo, hi = self.stretch_percentiles
        x = np.stack([_stretch(b, lo, hi) for b in x])
        dual = source == "sar" and x.shape[0] == 2
        canvas, valid = _resize_canvas(x, geometry)
        pixel = torch.zeros(3, self.image_size, self.image_size)
        if source == "optical":
            pixel[:] = canvas
        elif source == "sar":
            pixel[0] = canvas[0]
            pixel[1] = canvas[1] if dual else canvas[0]
            pixel[2] = valid[0] * (1.0 if dual else 0.0)
        else:
            pixel[0] = canvas[0]
        return ImageInputs(pixel_values=pixel[None], source_ids=torch.tensor([SOURCES.index(source)]),
                           valid_mask=valid[None], geometry=geometry,
                           view_scale=torch.tensor([float(pixel_scale) / geometry.scale], dtype=torch.float32))

    @staticmethod
    def _sar_values(x: np.ndarray, sar_scale: str | None, is_uint8: bool) -> np.ndarray:
        if sar_scale is None:
            finite = x[np.isfinite(x)]
            sar_scale = "display" if is_uint8 else ("db" if finite.size and (finite < 0).any() else "linear")
        if sar_scale not in SAR_SCALES:
            raise EgxInputError(f"unknown sar_scale {sar_scale!r}; use one of {SAR_SCALES} or None (auto)")
        if sar_scale == "linear":
            finite = x[np.isfinite(x)]
            if finite.size and (finite < 0).any():
                raise EgxInputError("linear SAR backscatter cannot be negative; pass sar_scale='db' for dB data")
            with np.errstate(invalid="ignore"):
                return 10.0 * np.log10(np.maximum(x, _DB_FLOOR))
        return x

    # ------------------------------------------------------------------ prompts
    def rasterize_prompts(self, prompts: list[dict] | None, geometry: ViewGeometry) -> torch.Tensor:
        """Prompt dicts in view pixels -> (1, K, S, S) float masks (K may be 0)."""
        prompts = list(prompts or [])
        s = geometry.canvas
        if not prompts:
            return torch.zeros(1, 0, s, s)
        masks = [rasterize_prompt(p, geometry, self.point_radius) for p in prompts]
        return torch.from_numpy(np.stack(masks))[None]

    # ------------------------------------------------------------------ text
    def default_question(self, task: str | None, expression: str | None = None) -> str:
        if task not in DEFAULT_QUESTIONS:
            raise EgxInputError(f"unknown task {task!r}; use one of {TASKS} or pass a question")
        return DEFAULT_QUESTIONS[task].format(expression=expression or "objects")

    def _prefix(self, n_regions: int) -> str:
        regions = "".join(f" region {i + 1}: <region>" for i in range(n_regions))
        return "<image>" * self.image_seq_length + (regions + ";" if regions else "")

    def render(self, question: str, n_regions: int = 0, history=(), answer: str | None = None) -> list[tuple[str, bool]]:
        """The chat as (text piece, is_target) pieces (targets: assistant answers + ``<|end|>``)."""
        turns = list(history) + [(question, answer)]
        pieces = [("<bos>" if self.ids["bos"] is not None else "", False)]
        for i, (q, a) in enumerate(turns):
            pieces.append(("<|user|>" + (self._prefix(n_regions) if i == 0 else "") + " " + q.strip()
                           + "<|end|><|assistant|>", False))
            if a is not None:
                pieces.append((" " + a.strip() + "<|end|>", True))
        return pieces

    def _encode_pieces(self, pieces) -> tuple[list[int], list[int]]:
        ids, labels = [], []
        for text, target in pieces:
            if not text:
                continue
            t = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += t
            labels += t if target else [-100] * len(t)
        return ids, labels

    def build_inputs(self, task: str | None, question: str | None, n_regions: int = 0,
                     history=(), expression: str | None = None) -> dict:
        """Tokenised chat prompt for one question.

        Parameters
        ----------
        task : str or None
            Picks the default question when ``question`` is None.
        question : str or None
        n_regions : int
            Number of visual prompts (one ``<region>`` each, in order).
        history : sequence of (question, answer)
            Earlier turns of the conversation.

        Returns
        -------
        dict with ``input_ids`` and ``attention_mask``, each (1, L) long.
        """
        if question is None:
            question = self.default_question(task, expression)
        if not isinstance(question, str) or not question.strip():
            raise EgxInputError("the question is empty; ask something (or pass task= with question=None)")
        ids, _ = self._encode_pieces(self.render(question, n_regions, [tuple(h) for h in history]))
        t = torch.tensor([ids])
        return {"input_ids": t, "attention_mask": torch.ones_like(t)}

    def pad(self, rows: list[dict], side: str = "left") -> dict:
        """Stack several ``build_inputs`` results into one batch (left padding for generation)."""
        length = max(r["input_ids"].shape[-1] for r in rows)
        ids = torch.full((len(rows), length), self.ids["pad"], dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, r in enumerate(rows):
            n = r["input_ids"].shape[-1]
            sl = slice(length - n, length) if side == "left" else slice(0, n)
            ids[i, sl] = r["input_ids"][0]
            mask[i, sl] = r["attention_mask"][0]
        return {"input_ids": ids, "attention_mask": mask}

    # ------------------------------------------------------------------ training batches
    def collate(self, samples: list[dict]) -> dict:
        """A training batch from the dataset builder's loaded samples (see docs/architecture.md)."""
        s = self.image_size
        rows, images, sources, valids, scales, prompts, targets = [], [], [], [], [], [], []
        for smp in samples:
            img = self.preprocess_image(smp["image"], smp["source"], sar_scale=smp.get("sar_scale"))
            conv = smp["conversation"]
            pieces = self.render(conv[-1]["user"], len(smp.get("prompts") or []),
                                 [(t["user"], t["assistant"]) for t in conv[:-1]], answer=conv[-1]["assistant"])
            rows.append(self._encode_pieces(pieces))
            images.append(img.pixel_values[0])
            sources.append(img.source_ids[0])
            valids.append(img.valid_mask[0])
            scales.append(img.view_scale[0])
            prompts.append(self.rasterize_prompts(smp.get("prompts"), img.geometry)[0])
            targets.append(self._targets(smp, img.geometry, conv[-1]["assistant"]))
        b, length = len(samples), max(len(r[0]) for r in rows)
        input_ids = torch.full((b, length), self.ids["pad"], dtype=torch.long)
        labels = torch.full((b, length), -100, dtype=torch.long)
        attention = torch.zeros(b, length, dtype=torch.long)
        for i, (ids, lab) in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention[i, : len(ids)] = 1
        k = max(p.shape[0] for p in prompts)
        prompt_masks = torch.zeros(b, k, s, s)
        prompt_valid = torch.zeros(b, k, dtype=torch.bool)
        for i, p in enumerate(prompts):
            prompt_masks[i, : len(p)] = p
            prompt_valid[i, : len(p)] = True
        region_labels = torch.full((b, k), -100, dtype=torch.long)
        for i, smp in enumerate(samples):
            for j, label in enumerate(((smp.get("targets") or {}).get("region_labels") or [])[:k]):
                region_labels[i, j] = REGION_CLASSES.index(label)
        n = max(1, max(len(t["boxes"]) for t in targets))
        det_boxes = torch.zeros(b, n, 4)
        det_box_valid = torch.zeros(b, n, dtype=torch.bool)
        for i, t in enumerate(targets):
            det_boxes[i, : len(t["boxes"])] = t["boxes"]
            det_box_valid[i, : len(t["boxes"])] = True
        return {
            "input_ids": input_ids, "attention_mask": attention, "labels": labels,
            "pixel_values": torch.stack(images), "source_ids": torch.stack(sources), "valid_mask": torch.stack(valids),
            "view_scale": torch.stack(scales), "prompt_masks": prompt_masks, "prompt_valid": prompt_valid,
            "det_boxes": det_boxes, "det_box_valid": det_box_valid,
            "det_masks": torch.stack([t["det_mask"] for t in targets]),
            "det_valid": torch.tensor([t["det_valid"] for t in targets]),
            "seg_masks": torch.stack([t["seg_mask"] for t in targets]),
            "seg_valid": torch.tensor([t["seg_valid"] for t in targets]),
            "region_labels": region_labels,
        }

    def _targets(self, smp: dict, geometry: ViewGeometry, answer: str) -> dict:
        s = self.image_size
        tg = smp.get("targets") or {}
        boxes = np.asarray(tg.get("boxes") if tg.get("boxes") is not None else [], dtype=np.float64).reshape(-1, 4)
        det_valid = "[DET]" in answer
        det_mask = torch.zeros(1, s, s)
        if det_valid:
            m = tg.get("mask")
            if m is None and len(boxes):
                m = np.zeros((geometry.height, geometry.width), dtype=bool)
                for x0, y0, x1, y1 in boxes:
                    m[int(np.floor(max(y0, 0))): int(np.ceil(y1)), int(np.floor(max(x0, 0))): int(np.ceil(x1))] = True
            if m is not None:
                det_mask = _to_canvas_mask(m, geometry)
        seg = tg.get("seg_mask")
        seg_valid = "[SEG]" in answer and seg is not None
        seg_mask = _to_canvas_mask(seg, geometry) if seg_valid else torch.zeros(1, s, s)
        return {"boxes": torch.from_numpy(geometry.boxes_to_canvas(boxes)).float(), "det_mask": det_mask,
                "det_valid": det_valid, "seg_mask": seg_mask, "seg_valid": seg_valid}

    # ------------------------------------------------------------------ answers
    def decode(self, ids) -> str:
        """Generated ids -> text up to ``<|end|>`` (special tokens other than [SEG]/[DET] dropped)."""
        ids = [int(i) for i in ids]
        if self.ids["end"] in ids:
            ids = ids[: ids.index(self.ids["end"])]
        keep = {self.ids["seg"], self.ids["det"]}
        special = set(self.tokenizer.all_special_ids) - keep
        return self.tokenizer.decode([i for i in ids if i not in special], skip_special_tokens=False).strip()

    def _expression(self, prompt_ids) -> str:
        text = self.tokenizer.decode([int(i) for i in prompt_ids], skip_special_tokens=False)
        last = text.split("<|user|>")[-1].split("<|end|>")[0]
        last = re.sub(r"<[^>]+>|region \d+:|;", " ", last).strip()
        m = _GROUND_RE.search(last)
        return m.group(1).strip().lower() if m else "object"

    def _mask_to_view(self, logits: torch.Tensor, geometry: ViewGeometry) -> np.ndarray:
        """Canvas logits (M, S, S) -> probabilities (M, H, W) on the view grid (crop, resize, sigmoid)."""
        if logits.shape[0] == 0:
            return np.zeros((0, geometry.height, geometry.width), dtype=np.float32)
        crop = logits[:, : geometry.content_height, : geometry.content_width].float()[:, None]
        view = F.interpolate(crop, size=(geometry.height, geometry.width), mode="bilinear", align_corners=False)
        return view[:, 0].sigmoid().numpy().astype(np.float32)

    def post_process(self, outputs, geometry: ViewGeometry | list[ViewGeometry]) -> list[dict]:
        """Model output -> one answer dict per row, in view pixels (see docs/architecture.md)."""
        n = outputs.sequences.shape[0]
        geoms = geometry if isinstance(geometry, (list, tuple)) else [geometry] * n
        results = []
        for r in range(n):
            g = geoms[r]
            raw = self.decode(outputs.sequences[r])
            det_boxes = g.boxes_to_view(outputs.boxes[r].numpy())
            det_scores = outputs.scores[r].numpy().astype(np.float64)
            label = singular_word(self._expression(outputs.prompt_ids[r])) if "[DET]" in raw else None
            text = raw
            if "[DET]" in raw:
                if len(det_boxes):
                    found = f"{count_phrase(len(det_boxes), label)} found: " + " ".join(
                        format_box(bx, g.height, g.width) for bx in det_boxes)
                else:
                    found = f"{count_phrase(0, label)} found"
                text = text.replace("[DET]", found, 1).replace("[DET]", "")
            k = 0
            while "[SEG]" in text:
                k += 1
                text = text.replace("[SEG]", f" (mask {k}) ", 1)
            text = re.sub(r"\s+([.,;:!?])", r"\1", text)
            llm_boxes = parse_boxes(raw, g.height, g.width)
            boxes = np.concatenate([det_boxes, llm_boxes]).reshape(-1, 4)
            scores = np.concatenate([det_scores, np.full(len(llm_boxes), np.nan)])
            labels = [label] * len(det_boxes) + ["object"] * len(llm_boxes)
            box_masks = self._restrict(self._mask_to_view(outputs.box_mask_logits[r][: len(det_boxes)], g), det_boxes)
            seg = self._mask_to_view(outputs.seg_mask_logits[r], g)
            masks = np.concatenate([box_masks, seg]) if len(box_masks) + len(seg) else None
            results.append({
                "text": re.sub(r"\s+", " ", text).strip(),
                "boxes": boxes, "scores": scores, "labels": labels,
                "masks": masks,
                "mask_boxes": np.asarray(list(range(len(det_boxes))) + [-1] * len(seg), dtype=np.int64),
            })
        return results

    @staticmethod
    def _restrict(prob: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Zero each map of ``prob`` (M, H, W) outside its box of ``boxes`` (M, 4), in place (pixel centres)."""
        _, h, w = prob.shape
        cy = np.arange(h) + 0.5
        cx = np.arange(w) + 0.5
        rows = (cy[None] >= boxes[:, 1:2]) & (cy[None] < boxes[:, 3:4])
        cols = (cx[None] >= boxes[:, 0:1]) & (cx[None] < boxes[:, 2:3])
        prob *= rows[:, :, None] & cols[:, None, :]
        return prob
