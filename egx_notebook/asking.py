"""One request end to end: raster + prompts -> view(s) -> model -> Answer."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import xarray as xr

from egx_notebook.answer import Answer, Detection
from egx_notebook.engine import Engine, get_engine
from egx_notebook.errors import PromptError
from egx_notebook.grid import Grid, grid_of
from egx_notebook.prompts import PixelPrompt, check_question, parse_prompts, prompts_bounds
from egx_notebook.sources import SourceProfile, source_profile
from egx_notebook.tiling import box_iou, covering_views, nms, tile_views
from egx_notebook.views import MIN_REGION_SIDE, View, choose_view, read_view, region_side

__all__ = ["run_task", "run_ground", "doubtful_boxes", "added_boxes", "mean_point_masks", "MASK_THRESHOLD",
           "CLOSE_POINT_SIDE", "RECHECK_FROM", "WHOLE_UP_TO"]


#: Probability above which a mask pixel belongs to the object. Read off the default
#: model's point-prompt masks on the validation chips (``benchmarks/mask_threshold.py``):
#: its masks of small objects are under-confident, oil wells most of all.
MASK_THRESHOLD = 0.3
#: The closer window, raster pixels, of the second look a point-only ``segment`` takes (the
#: first is ``views.POINT_REGION_SIDE``): the mean of the two looks' masks drew better masks
#: than either on the validation points of all four real datasets but SIRST-v2 (model card,
#: "How large a window a point looks through").
CLOSE_POINT_SIDE = MIN_REGION_SIDE

#: ``ground`` on a chip it looks at whole: detections scored from this up to the detection
#: threshold are doubtful, and native-resolution windows over them are looked at again.
#: Read off the validation chips (model card, "One look, tiles, or a second look").
RECHECK_FROM = 0.2
#: IoU at which a window's box counts as on a doubtful region, or as the same object as a kept box.
RECHECK_OVERLAP = 0.1
#: Only doubtful boxes smaller than this on the whole look's input (square root of the area,
#: model-input pixels) are looked at again; None looks at doubtful boxes of any size. Version
#: 11 gained nothing on larger objects (12 px); version 12's grounding head gains on oil wells,
#: 17 px on the input, at any size (model card, as above).
RECHECK_MAX_SIDE: float | None = None
#: Context kept around each doubtful box in the native-resolution window that looks at it
#: again, as a fraction of the model input side (1/4 scored no better in more looks; model card).
RECHECK_CONTEXT = 0.125
#: ``ground`` without prompts looks at a raster whole up to this long side, in model inputs,
#: and tiles a larger one at native resolution, unless the model has a rule of its own for
#: the class asked for (``config.det_class_whole_up_to``).
WHOLE_UP_TO = 4.0


def raster_key(da: xr.DataArray) -> Any:
    """Identity of the raster's data for the encoded-view cache.

    Dask-backed data are named by their graph; other data by the variable's identity
    (the cache holds the variable, so its ``id`` cannot be reused by another raster
    while the entry lives) and, where known, the file it came from.
    """
    data = da.variable._data
    if hasattr(data, "name") and hasattr(data, "dask") and isinstance(getattr(data, "name", None), str):
        return ("dask", data.name)
    return ("id", id(da.variable), da.attrs.get("egx_path"), tuple(da.shape))


def in_memory(da: xr.DataArray) -> bool:
    """Whether the raster's values are a NumPy array in memory (and so may be edited in place)."""
    return isinstance(da.variable._data, np.ndarray)


def pixels_digest(arr: np.ndarray) -> str:
    """Digest of a view's pixels: an in-memory raster edited in place gets a new cache key."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.blake2b(arr.view(np.uint8).reshape(-1), digest_size=16)
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    return h.hexdigest()


def check_min_score(min_score: float | None, name: str = "min_score") -> None:
    """Refuse a detection score threshold outside [0, 1)."""
    if min_score is None:
        return
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.floating)) or not 0 <= min_score < 1:
        what = "the model's own threshold" if name == "min_score" else "none"
        raise PromptError(f"{name} must be a number in [0, 1) (or None for {what}), not {min_score!r}.")


class _Request:
    def __init__(self, da: xr.DataArray, engine: Engine) -> None:
        self.da = da
        self.grid: Grid = grid_of(da)
        self.profile: SourceProfile = source_profile(da)
        self.engine = engine
        self.bands = da.isel(band=list(self.profile.band_index)) if "band" in da.dims else da.expand_dims("band")

    def read(self, view: View) -> np.ndarray:
        arr = read_view(self.bands, view)
        if arr.shape[0] < self.profile.repeat_to:
            arr = np.repeat(arr, self.profile.repeat_to // arr.shape[0], axis=0)
        return arr

    def run(self, view: View, task: str, question: str | None, prompts: Sequence[PixelPrompt], history, max_new_tokens: int,
            min_score: float | None = None) -> dict:
        key = (raster_key(self.da), view, self.profile)
        read = lambda: self.read(view)  # noqa: E731
        if in_memory(self.da):  # cheap to read again; catches edits in place
            pixels = self.read(view)
            key += (pixels_digest(pixels),)
            read = lambda: pixels  # noqa: E731
        return self.engine.answer(
            key=key,
            read=read,
            owner=self.da.variable,
            source=self.profile.source,
            sar_scale=self.profile.sar_scale,
            task=task,
            question=question,
            prompts=[p.to_view(view) for p in prompts],
            history=history,
            max_new_tokens=max_new_tokens,
            min_score=min_score,
            pixel_scale=view.factor,
        )


def piece_at(mask: np.ndarray, points: Sequence[tuple[float, float]]) -> np.ndarray:
    """The connected pieces of ``mask`` under ``points`` (x, y in its pixels), else the piece nearest each.

    A point asks for the object under it; a mask that also covers a neighbour or a
    speckle blob away from the point keeps only the piece at the point.
    """
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1 or not points:
        return mask
    h, w = mask.shape
    keep = set()
    nearest = None
    for x, y in points:
        c, r = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
        if labels[r, c]:
            keep.add(int(labels[r, c]))
            continue
        if nearest is None:
            _, nearest = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        keep.add(int(labels[nearest[0][r, c], nearest[1][r, c]]))
    return np.isin(labels, sorted(keep))


def _result_boxes(result: dict) -> np.ndarray:
    """The boxes of a model result, (N, 4), in view pixels."""
    boxes = result.get("boxes")
    return np.asarray(boxes if boxes is not None else np.zeros((0, 4)), float).reshape(-1, 4)


def _mask_owners(result: dict) -> list[int]:
    """The box each mask of ``result`` belongs to (an index into its boxes), -1 for a mask of its own.

    ``result["mask_boxes"][j]`` (when given) is the box of mask ``j``, or -1; without it
    mask ``j`` belongs to box ``j``.
    """
    masks = result.get("masks")
    n_masks, n_boxes = (0 if masks is None else len(masks)), len(_result_boxes(result))
    owner = result.get("mask_boxes")
    if owner is None:
        owner = [j if j < n_boxes else -1 for j in range(n_masks)]
    owner = [int(b) if 0 <= int(b) < n_boxes else -1 for b in np.asarray(owner).reshape(-1)[:n_masks]]
    return owner + [-1] * (n_masks - len(owner))


def _detections(result: dict, view: View, n_prompts: int, default_label: str | None,
                points: Sequence[tuple[float, float]] = ()) -> list[Detection]:
    """Model output in view pixels -> detections in raster pixels.

    Masks belong to boxes as :func:`_mask_owners` reads them (a ``[SEG]`` mask next to
    grounded boxes is a mask of its own). Boxes come first, in order, each with its
    mask; masks of their own follow. With ``points`` (view pixels), a mask of its own
    keeps only its pieces at the points (:func:`piece_at`).
    """
    boxes = _result_boxes(result)
    scores = np.asarray(result.get("scores") if result.get("scores") is not None else np.zeros(len(boxes)), float)
    labels = list(result.get("labels") or [])
    masks = result.get("masks")
    masks = np.zeros((0, *view.shape), np.float32) if masks is None else np.asarray(masks)
    owner = _mask_owners(result)
    box_masks: dict[int, list[int]] = {}
    for j, b in enumerate(owner):
        if b >= 0:
            box_masks.setdefault(b, []).append(j)
    items = [(i, box_masks.get(i, [])) for i in range(len(boxes))] + [(None, [j]) for j, b in enumerate(owner) if b < 0]
    n = len(items)
    out = []
    for k, (i, mask_ids) in enumerate(items):
        box_px = None if i is None else view.to_raster_px(boxes[i].reshape(2, 2)).reshape(4)
        if box_px is not None and not (box_px[2] > box_px[0] and box_px[3] > box_px[1]):
            box_px = None  # a degenerate box (e.g. clipped to the view's edge) is no region
        score = float(scores[i]) if i is not None and i < len(scores) and np.isfinite(scores[i]) else None
        pieces = []
        for j in mask_ids:
            vmask = masks[j] > MASK_THRESHOLD
            if points and i is None:
                vmask = piece_at(vmask, points)
            if vmask.any():
                pieces.append((view, vmask))
                if score is None:
                    score = float(masks[j][vmask].mean())
        if box_px is None and not pieces:
            continue
        label = labels[i] if i is not None and i < len(labels) and labels[i] else default_label
        prompt_id = k + 1 if n == n_prompts and n_prompts > 0 else None
        out.append(Detection(label, score, box_px, pieces, prompt_id))
    return out


def _point_prompts(task: str, prompts: Sequence[PixelPrompt], view: View) -> list[tuple[float, float]]:
    """View-pixel points of a ``segment`` request whose prompts are all points, else none."""
    if task != "segment" or not prompts or any(p.kind != "point" for p in prompts):
        return []
    return [tuple(p.to_view(view)["xy"]) for p in prompts]


def run_task(
    da: xr.DataArray,
    task: str,
    question: str | None = None,
    *,
    point: Any = None,
    box: Any = None,
    polygon: Any = None,
    mask: Any = None,
    crs: Any = None,
    level: str = "auto",
    history: Sequence[tuple[str, str]] = (),
    label: str | None = None,
    max_new_tokens: int = 48,
    min_score: float | None = None,
    engine: Engine | None = None,
) -> Answer:
    """Answer one task on ``da`` (see :class:`egx_notebook.accessor.EgxDataArrayAccessor`)."""
    question = check_question(question, required=False)
    check_min_score(min_score)
    req = _Request(da, engine or get_engine())
    prompts = parse_prompts(req.grid, point=point, box=box, polygon=polygon, mask=mask, crs=crs)
    bounds = prompts_bounds(prompts)
    view = choose_view(req.grid, bounds, level, req.engine.input_size,
                       min_region_side=region_side([p.kind for p in prompts]))
    result = req.run(view, task, question, prompts, history, max_new_tokens, min_score)
    views, raw = [view], [result]
    points = _point_prompts(task, prompts, view)
    if points and view.level == "region":
        close = choose_view(req.grid, bounds, level, req.engine.input_size, min_region_side=CLOSE_POINT_SIDE)
        if close != view:  # a second, closer look: the mask is the mean of the two where both see it
            close_result = req.run(close, task, question, prompts, history, max_new_tokens, min_score)
            result = mean_point_masks(result, view, close_result, close)
            views, raw = [view, close], [result, close_result]
    return Answer(
        text=str(result.get("text", "")),
        task=task,
        question=question,
        source=req.profile.source,
        raster=da,
        grid=req.grid,
        views=views,
        detections=_detections(result, view, len(prompts), label, points),
        prompts=prompts,
        raw=raw,
    )


def mean_point_masks(wide: dict, wide_view: View, close: dict, close_view: View) -> dict:
    """``wide``'s result with its ``[SEG]`` mask probabilities averaged with ``close``'s where ``close_view`` sees.

    A point does not tell the size of the object under it: the wide window holds a large
    object whole, the close one sees a small one at a finer zoom. Mask ``k`` of one look
    is averaged with mask ``k`` of the other, sampled at the centre of each wide-view pixel;
    when the two looks answered with different numbers of masks, ``wide`` is returned
    as it is. Neither input is changed (results may be cached).
    """
    mine, theirs = ([j for j, b in enumerate(_mask_owners(r)) if b < 0] for r in (wide, close))
    if not mine or len(mine) != len(theirs):
        return wide
    masks = np.array(wide["masks"], dtype=np.float32, copy=True)
    other = np.asarray(close["masks"], dtype=np.float32)
    h, w = masks.shape[-2:]
    ch, cw = other.shape[-2:]
    rows = np.floor((wide_view.row_off + (np.arange(h) + 0.5) * wide_view.factor - close_view.row_off)
                    / close_view.factor).astype(int)
    cols = np.floor((wide_view.col_off + (np.arange(w) + 0.5) * wide_view.factor - close_view.col_off)
                    / close_view.factor).astype(int)
    r_in, c_in = (rows >= 0) & (rows < ch), (cols >= 0) & (cols < cw)
    if not r_in.any() or not c_in.any():
        return wide
    at = np.ix_(np.flatnonzero(r_in), np.flatnonzero(c_in))
    for j, k in zip(mine, theirs):
        masks[j][at] = 0.5 * (masks[j][at] + other[k][np.ix_(rows[r_in], cols[c_in])])
    return {**wide, "masks": masks}


def run_ground(
    da: xr.DataArray,
    expression: str,
    question: str,
    *,
    level: str = "auto",
    overlap: float = 0.25,
    iou: float = 0.5,
    max_tiles: int = 256,
    whole_up_to: float | None = None,
    recheck_from: float | None = RECHECK_FROM,
    recheck_max_side: float | None = RECHECK_MAX_SIDE,
    recheck_context: float = RECHECK_CONTEXT,
    max_new_tokens: int = 48,
    min_score: float | None = None,
    engine: Engine | None = None,
    **prompt_kwargs: Any,
) -> Answer:
    """Find all ``expression`` over ``da``: one look at a chip, native-resolution tiles over a large scene.

    With ``level="auto"`` a raster whose long side is at most ``whole_up_to`` times the
    model input is looked at whole (decimated, as the model saw whole chips in training);
    a larger one is tiled at native resolution and the detections merged with NMS.
    ``whole_up_to=None`` is the model's own rule for the class ``expression`` names
    (``config.det_class_whole_up_to``), else ``WHOLE_UP_TO``. When
    the whole look is decimated, its detections scored from ``recheck_from`` up to the
    threshold are looked at again at native resolution (see :func:`_ground_rechecked`;
    ``recheck_max_side`` is its size limit on the model input, None (the default,
    ``RECHECK_MAX_SIDE``) for any size; ``recheck_context`` the
    context around each doubtful box, a fraction of the model input); ``recheck_from=None``
    keeps the one look. ``min_score=None`` is the model's own threshold: its threshold for
    the class ``expression`` names (``config.det_class_thresholds``), else its one threshold.
    """
    if whole_up_to is not None and (isinstance(whole_up_to, bool) or not isinstance(whole_up_to, (int, float))
                                    or not whole_up_to > 0):
        raise PromptError(f"whole_up_to must be a positive number of model inputs, got {whole_up_to!r}.")
    check_min_score(min_score)
    if recheck_from is not None:
        check_min_score(recheck_from, "recheck_from")
    if isinstance(recheck_context, bool) or not isinstance(recheck_context, (int, float)) \
            or not 0 <= recheck_context < 0.5:
        raise PromptError(f"recheck_context is a fraction of the model input in [0, 0.5), got {recheck_context!r}.")
    req = _Request(da, engine or get_engine())
    if min_score is None:  # the model's own threshold for this class, where it has one
        min_score = req.engine.class_score_threshold(expression)
    if whole_up_to is None:  # the model's own rule for this class, where it has one
        whole_up_to = req.engine.class_whole_up_to(expression) or WHOLE_UP_TO
    size = req.engine.input_size
    has_prompts = any(prompt_kwargs.get(k) is not None for k in ("point", "box", "polygon", "mask"))
    big = max(req.grid.height, req.grid.width) > whole_up_to * size
    if level == "auto" and not has_prompts and not big and recheck_from is not None:
        return _ground_rechecked(req, expression, question, iou=iou, recheck_from=recheck_from,
                                 max_side=recheck_max_side, context=recheck_context, max_new_tokens=max_new_tokens,
                                 min_score=min_score)
    if has_prompts or level in ("scene", "region") or not big:
        return run_task(da, "ground", question, level=level, label=expression, max_new_tokens=max_new_tokens,
                        min_score=min_score, engine=req.engine, **prompt_kwargs)
    if level != "auto":
        raise PromptError(f"unknown level {level!r}; use 'auto', 'scene' or 'region'.")
    views = tile_views(req.grid.height, req.grid.width, size, overlap)
    if len(views) > max_tiles:
        raise PromptError(
            f"grounding over this {req.grid.width} x {req.grid.height} raster needs {len(views)} tiles of {size} px "
            f"(max_tiles={max_tiles}); pass level='scene' for a zoomed-out look, a box= to limit the area, or raise max_tiles."
        )
    merged, raws = _ground_tiles(req, views, expression, question, iou, max_new_tokens, min_score)
    text = f"Found {_found_phrase(merged, expression)} in {len(views)} tiles (merged with NMS at IoU {iou})."
    return Answer(text=text, task="ground", question=question, source=req.profile.source, raster=da, grid=req.grid,
                  views=views, detections=merged, prompts=[], raw=raws)


def _ground_tiles(req: _Request, views: Sequence[View], expression: str, question: str, iou: float,
                  max_new_tokens: int, min_score: float | None) -> tuple[list[Detection], list[dict]]:
    """Ground on each view and merge the boxes with NMS at ``iou`` (box-less masks are kept as they are)."""
    detections: list[Detection] = []
    raws = []
    for view in views:
        result = req.run(view, "ground", question, [], (), max_new_tokens, min_score)
        raws.append(result)
        detections.extend(_detections(result, view, 0, expression))
    with_box = [d for d in detections if d.box_px is not None]
    keep = nms(np.array([d.box_px for d in with_box]).reshape(-1, 4), np.array([d.score or 0.0 for d in with_box]),
               [d.label for d in with_box], iou) if with_box else []
    return [with_box[i] for i in keep] + [d for d in detections if d.box_px is None], raws


def _found_phrase(detections: Sequence[Detection], expression: str) -> str:
    from egx_notebook.model.data.vocabulary import count_phrase  # plain data, no torch

    counts: dict[str, int] = {}
    for d in detections:
        counts[d.label or expression] = counts.get(d.label or expression, 0) + 1
    return ", ".join(count_phrase(n, name) for name, n in counts.items()) or f"no {expression}"


def doubtful_boxes(boxes: np.ndarray, scores: np.ndarray, threshold: float, recheck_from: float, factor: int,
                   max_side: float | None) -> np.ndarray:
    """Which boxes of the whole look the second look checks again (one bool per box).

    Doubtful: scored in ``[recheck_from, threshold)`` (a NaN score, no score, never is) and,
    unless ``max_side`` is None, smaller than ``max_side`` on the look's input (square root
    of the area over the look's decimation ``factor``).
    """
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    scores = np.asarray(scores, float).reshape(-1)
    doubt = (scores >= recheck_from) & (scores < threshold)
    if max_side is not None:
        doubt &= np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) / factor < max_side
    return doubt


def added_boxes(window_boxes: np.ndarray, doubtful: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Which window boxes the second look adds (one bool per box): on a doubtful box, on no kept one.

    "On" is IoU >= ``RECHECK_OVERLAP``; all boxes in raster pixels.
    """
    window_boxes = np.asarray(window_boxes, float).reshape(-1, 4)
    doubtful = np.asarray(doubtful, float).reshape(-1, 4)
    kept = np.asarray(kept, float).reshape(-1, 4)
    if not len(window_boxes) or not len(doubtful):
        return np.zeros(len(window_boxes), bool)
    add = box_iou(window_boxes, doubtful).max(1) >= RECHECK_OVERLAP
    if len(kept):
        add &= box_iou(window_boxes, kept).max(1) < RECHECK_OVERLAP
    return add


def _ground_rechecked(req: _Request, expression: str, question: str, *, iou: float, recheck_from: float,
                      max_side: float | None, context: float, max_new_tokens: int,
                      min_score: float | None) -> Answer:
    """One look at the whole chip, then native-resolution windows over its doubtful detections.

    The whole look answers down to ``recheck_from``. Its detections scored at least the
    threshold (``min_score``, else the model's own) are kept; those in between are doubtful,
    and looked at again when they are smaller than ``max_side`` on the model input (any size
    when it is None).
    Few native-resolution windows hold every doubtful box whole, with ``context`` (a
    fraction of the input, ``RECHECK_CONTEXT`` by default) around it
    (:func:`~egx_notebook.tiling.covering_views`); they are grounded at the threshold, and
    a window's box is added where it lies on a doubtful box and on no kept one (IoU >=
    ``RECHECK_OVERLAP``).
    The decimated look keeps the context that rejects clutter; the windows see small objects
    (thermal people a few pixels across once decimated) at the resolution they were boxed at.
    """
    size = req.engine.input_size
    whole = choose_view(req.grid, None, "scene", size)
    threshold = min_score if min_score is not None else req.engine.score_threshold
    if whole.factor == 1 or threshold is None or recheck_from >= threshold:
        return run_task(req.da, "ground", question, label=expression, max_new_tokens=max_new_tokens,
                        min_score=min_score, engine=req.engine)
    result = req.run(whole, "ground", question, [], (), max_new_tokens, recheck_from)
    found = _detections(result, whole, 0, expression)
    # box-less masks (a [SEG] next to the boxes) do not depend on the threshold: kept as one look keeps them
    kept = [d for d in found if d.box_px is None or d.score is None or d.score >= threshold]
    boxed = [d for d in found if d.box_px is not None]
    boxes = np.array([d.box_px for d in boxed]).reshape(-1, 4)
    scores = np.array([np.nan if d.score is None else d.score for d in boxed])
    doubtful = boxes[doubtful_boxes(boxes, scores, threshold, recheck_from, whole.factor, max_side)]
    windows = covering_views(req.grid.height, req.grid.width, size, doubtful, context * size)
    raws = [result]
    if windows:
        seen, more = _ground_tiles(req, windows, expression, question, iou, max_new_tokens, min_score)
        raws += more
        seen = [d for d in seen if d.box_px is not None]
        add = added_boxes(np.array([d.box_px for d in seen]).reshape(-1, 4), doubtful,
                          np.array([d.box_px for d in kept if d.box_px is not None]).reshape(-1, 4))
        kept += [d for d, a in zip(seen, add) if a]
    again = (f", {len(doubtful)} doubtful regions looked at again in {len(windows)} native-resolution windows"
             if len(doubtful) else "")
    text = f"Found {_found_phrase(kept, expression)} (one look at the whole chip{again})."
    return Answer(text=text, task="ground", question=question, source=req.profile.source, raster=req.da,
                  grid=req.grid, views=[whole, *windows], detections=kept, prompts=[], raw=raws)
