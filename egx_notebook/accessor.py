"""The ``.egx`` accessor on xarray DataArrays and Datasets.

Registering it imports only xarray; everything heavy loads inside the methods.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

__all__ = ["EgxDataArrayAccessor", "EgxDatasetAccessor"]

_PROMPT_DOC = """
    point, box, polygon, mask : optional
        Visual prompts, one or a list each: ``(x, y)``, ``(xmin, ymin, xmax, ymax)``,
        a ring or shapely Polygon, a boolean DataArray on the raster grid;
        shapely geometries and GeoDataFrames work too. Several prompts are
        "region 1", "region 2", ... in the order points, boxes, polygons, masks.
    crs : optional
        CRS of the prompt coordinates when not the raster's (e.g. "EPSG:4326").
    level : {"auto", "scene", "region"}
        "scene": the whole raster at reduced resolution; "region": a window
        around the prompts at native resolution (zoom-in); "auto": region when
        there are prompts.
"""


def _doc(func):
    func.__doc__ = (func.__doc__ or "").replace("{prompts}", _PROMPT_DOC.strip("\n"))
    return func


@xr.register_dataarray_accessor("egx")
class EgxDataArrayAccessor:
    """Ask the EarthGPT-X model about this raster: ``da.egx.ask(...)``.

    The raster is a DataArray with dims (band, y, x) (or (y, x)), e.g. from
    :func:`egx_notebook.open_raster`. Its source tag is ``attrs["egx_source"]``
    (inferred when missing); answers come back on its own grid.
    """

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    # -- metadata (set_* return a new object unless inplace=True) -----------------
    @property
    def source(self) -> str:
        """The source tag: "optical", "sar" or "infrared"."""
        return self.profile.source

    @property
    def profile(self):
        """The :class:`~egx_notebook.sources.SourceProfile` (bands handed to the model)."""
        from egx_notebook.sources import source_profile

        return source_profile(self._obj)

    def _set_attr(self, key: str, value: Any, inplace: bool) -> xr.DataArray | None:
        obj = self._obj if inplace else self._obj.copy(deep=False)
        obj.attrs = dict(obj.attrs)
        obj.attrs[key] = value
        return None if inplace else obj

    def set_source(self, source: str, *, inplace: bool = False) -> xr.DataArray | None:
        """Set the source tag ("optical", "sar", "infrared")."""
        from egx_notebook.errors import SourceError
        from egx_notebook.sources import SOURCES

        if source not in SOURCES:
            raise SourceError(f"unknown source {source!r}; use one of {SOURCES}.")
        return self._set_attr("egx_source", source, inplace)

    def set_bands(self, bands: list[str | int], *, inplace: bool = False) -> xr.DataArray | None:
        """Choose the bands handed to the model, by name or 1-based number (e.g. ["B8", "B4", "B3"])."""
        from egx_notebook.sources import source_profile

        out = self._set_attr("egx_bands", list(bands), inplace)
        source_profile(self._obj if inplace else out)  # validate now, not at the first question
        return out

    # -- asking ----------------------------------------------------------------------
    @_doc
    def ask(
        self,
        question: str,
        *,
        point: Any = None,
        box: Any = None,
        polygon: Any = None,
        mask: Any = None,
        crs: Any = None,
        level: str = "auto",
        history: list[tuple[str, str]] | None = None,
        max_new_tokens: int = 48,
    ):
        """Ask a free question, optionally about prompted regions.

        Parameters
        ----------
        question : str
            The instruction, e.g. "What is this?" or "How many ships are there?".
        {prompts}
        history : list of (question, answer), optional
            Earlier turns (``da.egx.chat()`` fills this in).
        max_new_tokens : int
            Upper bound on the answer length in tokens.

        Returns
        -------
        Answer
        """
        from egx_notebook.asking import run_task
        from egx_notebook.prompts import check_question

        check_question(question)
        has_prompts = any(v is not None for v in (point, box, polygon, mask))
        return run_task(self._obj, "refer" if has_prompts else "vqa", question, point=point, box=box,
                        polygon=polygon, mask=mask, crs=crs, level=level, history=history or (),
                        max_new_tokens=max_new_tokens)

    def caption(self, *, level: str = "scene", max_new_tokens: int = 64):
        """Describe the scene (scene-level caption)."""
        from egx_notebook.asking import run_task

        return run_task(self._obj, "caption", None, level=level, max_new_tokens=max_new_tokens)

    def classify(self, *, level: str = "scene"):
        """Name the scene class (e.g. "harbour", "airport")."""
        from egx_notebook.asking import run_task

        return run_task(self._obj, "classify", None, level=level, max_new_tokens=16)

    @_doc
    def refer(self, question: str | None = None, *, point: Any = None, box: Any = None, polygon: Any = None,
              mask: Any = None, crs: Any = None, level: str = "auto", max_new_tokens: int = 48):
        """What is this region? A region-level answer about the prompted region(s).

        Parameters
        ----------
        question : str, optional
            Defaults to the model's referring question ("What is in <region>?").
        {prompts}
        """
        from egx_notebook.asking import run_task
        from egx_notebook.errors import PromptError

        if all(v is None for v in (point, box, polygon, mask)):
            raise PromptError("refer() needs a region: pass point=, box=, polygon= or mask=.")
        return run_task(self._obj, "refer", question, point=point, box=box, polygon=polygon, mask=mask, crs=crs,
                        level=level, max_new_tokens=max_new_tokens)

    @_doc
    def ground(self, expression: str, *, point: Any = None, box: Any = None, polygon: Any = None, mask: Any = None,
               crs: Any = None, level: str = "auto", overlap: float = 0.25, iou: float = 0.5, max_tiles: int = 256,
               whole_up_to: float | None = None, recheck_from: float | None = 0.2, min_score: float | None = None,
               max_new_tokens: int = 48):
        """Find all objects matching ``expression`` (boxes and masks).

        Without prompts, a chip whose long side is at most ``whole_up_to`` times
        the model input is looked at whole, decimated to the input (as the model
        saw whole chips in training). Detections of that look scored between
        ``recheck_from`` and the threshold are doubtful: a few native-resolution
        windows that hold them whole are grounded too, and a window's box on a
        doubtful region (and on no box already kept) is added. On the validation chips of SSDD,
        NEPU-OWOD and SIRST-v2 this scores better than one look or tiles
        alone (see the model card). A larger raster is tiled at native resolution
        with ``overlap`` and the detections are merged with NMS at ``iou``, so
        small objects stay visible; the model may tile smaller rasters for a class
        it finds better that way (the default model: people, a few pixels across
        in the thermal frames of HIT-UAV). ``level="scene"`` always looks at the
        whole raster once. Ask at the raster's own resolution: the model learned
        objects at the sizes whole chips and native tiles show them, and a raster
        enlarged first makes them larger than that (thermal people: F1 0.58 as
        they are, 0.38 at 1.5 times; model card, "One look, tiles, or a second look").

        Parameters
        ----------
        expression : str
            What to find, e.g. "ship" or "the largest building".
        {prompts}
        overlap : float
            Tile overlap fraction.
        iou : float
            NMS IoU threshold between tiles.
        max_tiles : int
            Refuse (PromptError) rather than run more tiles than this.
        whole_up_to : float, optional
            Long side, in model inputs, up to which the raster is looked at whole;
            ``1`` tiles everything larger than one input. Default the model's own
            rule for the class ``expression`` names (``det_class_whole_up_to`` in
            its config: 1 for people in the default model, who are a few pixels
            across in thermal UAV frames), else 4
            (``egx_notebook.asking.WHOLE_UP_TO``).
        recheck_from : float or None
            Lowest score of a doubtful detection of the whole look, in [0, 1)
            (default ``egx_notebook.asking.RECHECK_FROM``, 0.2);
            ``None`` keeps the one look (one model call instead of one per
            window over the doubtful regions). Nothing is doubtful when it is
            not below the threshold.
        min_score : float, optional
            Keep detections scoring at least this, in [0, 1); default the model's
            own threshold for the class ``expression`` names
            (``det_class_thresholds`` in its config: 0.45 for small targets and
            0.5 for people in the default model), else its one threshold
            (``det_score_threshold``, 0.4 for the default model). Lower it to
            trade precision for recall, e.g. to sweep thresholds against your
            labels with :func:`egx_notebook.score_regions`.
        """
        from egx_notebook.asking import run_ground
        from egx_notebook.prompts import check_question

        check_question(expression)
        question = f"Find all {expression.strip()}."
        return run_ground(self._obj, expression.strip(), question, level=level, overlap=overlap, iou=iou,
                          max_tiles=max_tiles, whole_up_to=whole_up_to, recheck_from=recheck_from, min_score=min_score,
                          max_new_tokens=max_new_tokens, point=point,
                          box=box, polygon=polygon, mask=mask, crs=crs)

    @_doc
    def segment(self, expression: str | None = None, *, point: Any = None, box: Any = None, polygon: Any = None,
                mask: Any = None, crs: Any = None, level: str = "auto", max_new_tokens: int = 48):
        """The mask of the prompted object (or of ``expression`` when no prompt is given).

        With points only, the model looks twice, through the point's window
        (``views.POINT_REGION_SIDE``, 128 px) and a closer one
        (``asking.CLOSE_POINT_SIDE``, 64 px), since a point does not tell how large the
        object under it is; the mask is the mean of the two looks' where both see, and
        keeps the connected piece under each point (or the piece nearest it): a point asks
        for the object under it, not its neighbours. ``answer.views`` lists both windows.

        Parameters
        ----------
        expression : str, optional
            What to segment, e.g. "the bright ship"; optional when prompts say where.
        {prompts}
        """
        from egx_notebook.asking import run_task
        from egx_notebook.errors import PromptError
        from egx_notebook.prompts import check_question

        if expression is None and all(v is None for v in (point, box, polygon, mask)):
            raise PromptError("segment() needs a prompt (point=, box=, polygon=, mask=) or an expression.")
        question = None if expression is None else f"Segment {check_question(expression)}."
        return run_task(self._obj, "segment", question, point=point, box=box, polygon=polygon, mask=mask, crs=crs,
                        level=level, label=expression, max_new_tokens=max_new_tokens)

    def chat(self):
        """Start a conversation: ``chat = da.egx.chat(); chat.ask("...", box=...)``."""
        from egx_notebook.chat import Chat

        return Chat(self)


@xr.register_dataset_accessor("egx")
class EgxDatasetAccessor:
    """``ds.egx`` on a Dataset of co-registered sources (e.g. variables "optical" and "sar").

    Each method takes ``var=``: a variable name or a source tag. Without it the
    Dataset must hold exactly one raster variable. :meth:`compare` asks every
    variable the same question.
    """

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    @property
    def sources(self) -> dict[str, str]:
        """Variable name -> source tag, for every raster variable (dims include y and x)."""
        from egx_notebook.sources import infer_source

        out = {}
        for name, var in self._obj.data_vars.items():
            if "y" in var.dims and "x" in var.dims:
                out[str(name)] = var.attrs.get("egx_source") or infer_source(var)[0]
        return out

    def __getitem__(self, var: str) -> xr.DataArray:
        """The raster for a variable name or source tag, with its CRS and source tag."""
        from egx_notebook.errors import SourceError

        sources = self.sources
        if var in sources:
            name = var
        else:
            names = [n for n, s in sources.items() if s == var]
            if len(names) != 1:
                raise SourceError(f"no single variable for {var!r}; the raster variables are {sources}.")
            name = names[0]
        da = self._obj[name]
        extra = [d for d in da.dims if d not in ("y", "x")]
        if "band" not in da.dims and len(extra) == 1:  # e.g. band_sar -> band
            renames = {extra[0]: "band"}
            renames.update({c: "band_name" for c in da.coords if c != extra[0] and da[c].dims == (extra[0],)
                            and str(c).startswith("band_name")})
            da = da.rename(renames)
        if da.rio.crs is None and self._obj.rio.crs is not None:
            da = da.rio.write_crs(self._obj.rio.crs)
        if "egx_source" not in da.attrs:
            da = da.copy(deep=False)
            da.attrs = {**da.attrs, "egx_source": sources[name]}
        return da

    def _pick(self, var: str | None) -> EgxDataArrayAccessor:
        from egx_notebook.errors import SourceError

        sources = self.sources
        if var is None:
            if len(sources) != 1:
                raise SourceError(f"this Dataset holds {len(sources)} rasters {sources}; pass var= (a name or a source tag) or use ds.egx.compare(...).")
            var = next(iter(sources))
        return self[var].egx

    def ask(self, question: str, *, var: str | None = None, **kwargs: Any):
        """``da.egx.ask`` on the variable ``var`` (name or source tag)."""
        return self._pick(var).ask(question, **kwargs)

    def caption(self, *, var: str | None = None, **kwargs: Any):
        return self._pick(var).caption(**kwargs)

    def classify(self, *, var: str | None = None, **kwargs: Any):
        return self._pick(var).classify(**kwargs)

    def refer(self, question: str | None = None, *, var: str | None = None, **kwargs: Any):
        return self._pick(var).refer(question, **kwargs)

    def ground(self, expression: str, *, var: str | None = None, **kwargs: Any):
        return self._pick(var).ground(expression, **kwargs)

    def segment(self, expression: str | None = None, *, var: str | None = None, **kwargs: Any):
        return self._pick(var).segment(expression, **kwargs)

    def chat(self, *, var: str | None = None):
        return self._pick(var).chat()

    def compare(self, question: str, **kwargs: Any) -> dict:
        """Ask every raster variable the same question: {variable name: Answer}."""
        return {name: self[name].egx.ask(question, **kwargs) for name in self.sources}
