"""The engine: loads the model once per kernel and caches encoded views.

``egx.use(...)`` only records what to load; the checkpoint is read on the first
question. Each encoded view (image features of one window at one zoom level of
one raster with one band choice) is cached, so follow-up prompts on the same
view skip the image encoder, as segment-anything's predictor does. A cache entry
keeps its raster's variable, so a new raster never inherits an old one's entry;
views of in-memory rasters are also keyed by a digest of their pixels, so a raster
edited in place is encoded again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from egx_notebook.errors import ModelError

__all__ = ["use", "get_engine", "Engine", "default_checkpoint", "default_checkpoint_available"]

_ENGINE: "Engine | None" = None


def _score(value: Any) -> float | None:
    """A threshold read from a model config as a float; None when it is missing or not a number."""
    return float(value) if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) else None


def default_checkpoint() -> Path:
    """Path of the checkpoint bundled with the package (it may be empty before training)."""
    import egx_notebook.model as model_pkg

    path = getattr(model_pkg, "DEFAULT_CHECKPOINT", None)
    return Path(path) if path is not None else Path(model_pkg.__file__).parent / "checkpoints" / "default"


def default_checkpoint_available() -> bool:
    """True when a default checkpoint (safetensors weights) is bundled. Imports no torch."""
    path = default_checkpoint()
    return path.is_dir() and any(path.glob("*.safetensors"))


def _check_checkpoint(path: Path, *, default: bool) -> None:
    if not path.exists():
        if default:
            raise ModelError(
                f"no default checkpoint is bundled yet ({path} does not exist); train one or pass your own: "
                "egx.use('path/to/checkpoint')."
            )
        raise ModelError(f"no checkpoint at {str(path)!r}; pass the folder written by model.save_pretrained(...).")
    if not path.is_dir():
        raise ModelError(f"{str(path)!r} is a file; pass the checkpoint folder (with config.json and *.safetensors).")
    if not any(path.glob("*.safetensors")):
        if default:
            raise ModelError(
                f"no default checkpoint is bundled yet ({path} has no *.safetensors weights); train one "
                "(python -m egx_notebook.model.train) or pass your own: egx.use('path/to/checkpoint')."
            )
        raise ModelError(
            f"{str(path)!r} holds no *.safetensors weights; egx-notebook loads safetensors only "
            "(save with model.save_pretrained(path, safe_serialization=True))."
        )


class Engine:
    """Holds the model and processor, the device and the cache of encoded views.

    Parameters
    ----------
    model : None, str, path-like, or (model, processor)
        None loads the bundled default checkpoint; a path loads that
        checkpoint folder (safetensors only); a tuple uses objects already built.
    device : str
        "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
    dtype : str or torch.dtype, optional
        Weights and image dtype, e.g. "bfloat16"; default float32.
    cache_size : int
        How many encoded views to keep.
    """

    def __init__(self, model: Any = None, device: str = "auto", dtype: Any = None, cache_size: int = 8) -> None:
        self.spec = model
        self.device_spec = device
        self.dtype_spec = dtype
        self.cache_size = cache_size
        self._model: Any = None
        self._processor: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._cache: OrderedDict = OrderedDict()
        if isinstance(model, (str, os.PathLike)):
            _check_checkpoint(Path(model), default=False)
        elif isinstance(model, tuple) and len(model) != 2:
            raise ModelError("pass model=(model, processor): a tuple of two objects.")

    # -- loading -----------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return (model, processor)."""
        if self._model is not None:
            return self._model, self._processor
        import torch

        device = self.device_spec
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ModelError(f"unknown device {self.device_spec!r}; use 'auto', 'cpu' or 'cuda'.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError("device='cuda' was asked for but CUDA is not available; use device='auto' or 'cpu'.")
        dtype = self.dtype_spec
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ModelError(f"unknown dtype {self.dtype_spec!r}; use e.g. 'float32' or 'bfloat16'.")
        dtype = dtype or torch.float32

        if isinstance(self.spec, tuple):
            model, processor = self.spec
        else:
            default = self.spec is None
            path = default_checkpoint() if default else Path(self.spec)
            _check_checkpoint(path, default=default)
            from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor

            try:
                model = EgxForConditionalGeneration.from_pretrained(str(path), use_safetensors=True)
                processor = EgxProcessor.from_pretrained(str(path))
            except (OSError, ValueError, KeyError) as exc:
                raise ModelError(f"cannot load the checkpoint at {str(path)!r}: {exc}") from exc
        if hasattr(model, "to"):
            model = model.to(device=device, dtype=dtype)
        if hasattr(model, "eval"):
            model.eval()
        self._model, self._processor, self._device, self._dtype = model, processor, device, dtype
        return model, processor

    @property
    def model(self) -> Any:
        return self.load()[0]

    @property
    def processor(self) -> Any:
        return self.load()[1]

    @property
    def input_size(self) -> int:
        """The model's square input side in pixels (the processor's canvas)."""
        model, processor = self.load()
        for obj, attrs in ((processor, ("image_size", "canvas_size", "size")), (getattr(model, "config", None), ("image_size",))):
            for attr in attrs:
                value = getattr(obj, attr, None)
                if isinstance(value, (int, np.integer)) and value > 0:
                    return int(value)
        vision = getattr(getattr(model, "config", None), "vision_config", None)
        value = getattr(vision, "image_size", None)
        if isinstance(value, (int, np.integer)) and value > 0:
            return int(value)
        raise ModelError("the processor does not say its input size (processor.image_size); the checkpoint is incomplete.")

    @property
    def score_threshold(self) -> float | None:
        """The model's own detection score threshold (``config.det_score_threshold``); None if it has none."""
        return _score(getattr(getattr(self.model, "config", None), "det_score_threshold", None))

    def class_score_threshold(self, expression: str | None) -> float | None:
        """The model's own threshold for the class ``expression`` names, where it has one.

        ``config.det_class_thresholds`` maps canonical labels to scores; ``expression`` is
        matched in either number and by synonym ('people' -> 'person'). None when the
        model has no threshold of that class's own (``score_threshold`` then applies).
        """
        return self._class_value("det_class_thresholds", expression)

    def class_whole_up_to(self, expression: str | None) -> float | None:
        """How large a raster, in model inputs, ``ground`` looks at whole for the class ``expression`` names.

        Read from ``config.det_class_whole_up_to`` (canonical labels, matched as in
        :meth:`class_score_threshold`); None when the model has no such rule for the class.
        """
        value = self._class_value("det_class_whole_up_to", expression)
        return value if value is not None and value > 0 else None

    def _class_value(self, field: str, expression: str | None) -> float | None:
        table = getattr(getattr(self.model, "config", None), field, None)
        if not table or not expression:
            return None
        from egx_notebook.model.data.vocabulary import singular_word  # plain data, no torch

        return _score(table.get(singular_word(expression)))

    # -- running -------------------------------------------------------------------
    def clear_cache(self) -> None:
        """Forget every encoded view."""
        self._cache.clear()

    def encode(self, key: Any, read: Callable[[], np.ndarray], source: str, sar_scale: str | None,
               owner: Any = None, pixel_scale: float = 1.0) -> tuple[Any, Any]:
        """(image inputs, image features) of a view, encoded at most once per ``key``.

        ``pixel_scale``: raster pixels per pixel of the array ``read`` returns (the view's
        decimation factor).

        ``owner`` (the raster's variable) is kept with the entry, so an ``id`` in the
        key cannot be reused by a new raster while the entry is cached.
        """
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key][:2]
        import torch

        model, processor = self.load()
        array = read()
        image = processor.preprocess_image(array, source, sar_scale=sar_scale, pixel_scale=pixel_scale)
        with torch.inference_mode():
            feats = model.encode_images(
                image.pixel_values.to(self._device, self._dtype),
                image.source_ids.to(self._device),
                image.valid_mask.to(self._device, self._dtype),
                image.view_scale.to(self._device),
            )
        self._cache[key] = (image, feats, owner)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image, feats

    def answer(
        self,
        *,
        key: Any,
        read: Callable[[], np.ndarray],
        source: str,
        sar_scale: str | None,
        task: str,
        question: str | None,
        prompts: Sequence[dict],
        history: Sequence[tuple[str, str]] = (),
        max_new_tokens: int = 48,
        owner: Any = None,
        min_score: float | None = None,
        pixel_scale: float = 1.0,
    ) -> dict:
        """Run one task on one view and return the processor's post-processed result (view pixels).

        ``min_score`` replaces the model's own detection score threshold for this call;
        ``pixel_scale`` is the view's decimation factor (raster pixels per array pixel).
        """
        import torch

        model, processor = self.load()
        image, feats = self.encode(key, read, source, sar_scale, owner=owner, pixel_scale=pixel_scale)
        text = processor.build_inputs(task, question, n_regions=len(prompts), history=list(history))
        prompt_masks = processor.rasterize_prompts(list(prompts), image.geometry)
        with torch.inference_mode():
            out = model.generate(
                image_features=feats,
                input_ids=text["input_ids"].to(self._device),
                attention_mask=text["attention_mask"].to(self._device),
                prompt_masks=prompt_masks.to(self._device, self._dtype),
                max_new_tokens=max_new_tokens,
                **({} if min_score is None else {"det_score_threshold": float(min_score)}),
            )
        return processor.post_process(out, image.geometry)[0]


def use(model: Any = None, device: str = "auto", dtype: Any = None) -> Engine:
    """Choose the model every ``.egx`` call in this kernel uses.

    The checkpoint loads lazily, on the first question, and once.

    Parameters
    ----------
    model : None, str, path-like, or (model, processor)
        None: the default checkpoint bundled with the package. A path: a
        checkpoint folder written by ``save_pretrained`` (safetensors only).
        A tuple: an ``EgxForConditionalGeneration`` and ``EgxProcessor``
        already in memory.
    device : str
        "auto" picks CUDA when available, else CPU.
    dtype : str or torch.dtype, optional
        e.g. "bfloat16" on a GPU; default float32.

    Returns
    -------
    Engine

    Raises
    ------
    ModelError
        Missing path, no safetensors weights, no default checkpoint bundled.
    """
    global _ENGINE
    if model is None:
        _check_checkpoint(default_checkpoint(), default=True)
    _ENGINE = Engine(model, device=device, dtype=dtype)
    return _ENGINE


def get_engine() -> Engine:
    """The engine chosen by :func:`use`, or the default checkpoint's when none was chosen."""
    return _ENGINE if _ENGINE is not None else use()
