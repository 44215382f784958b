"""Uniform records that every dataset reader produces."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ObjectRecord", "ImageRecord", "DatasetFormatError"]


class DatasetFormatError(ValueError):
    """A dataset file does not follow the format its reader expects."""


@dataclass
class ObjectRecord:
    """One annotated object.

    Parameters
    ----------
    label : str
        Canonical class label (see :mod:`vocabulary`).
    box : list of float
        ``[x0, y0, x1, y1]`` in image pixels, pixel-edge convention, clipped to the image.
    mask_ref : str or None
        Where the object's mask comes from: ``"png"`` (a component of the
        record's mask PNG) or None (box only).
    """

    label: str
    box: list[float]
    mask_ref: str | None = None


@dataclass
class ImageRecord:
    """One image of a real dataset with its annotations.

    Parameters
    ----------
    dataset, split, source : str
        Dataset name (e.g. ``"ssdd"``), ``"train"``/``"val"``, and ``"optical"``/``"sar"``/``"infrared"``.
    image : str
        Image path relative to the data root.
    width, height : int
        Image size in pixels.
    objects : list of ObjectRecord
    mask_path : str or None
        Binary target mask PNG relative to the data root (SIRST-style datasets).
    meta : dict
        Extra facts: ``gsd_m``, ``daynight``, ``altitude_m``, ``angle_deg``,
        ``sea_land_mask``, ``sar_scale``, ``scene``.
    """

    dataset: str
    split: str
    source: str
    image: str
    width: int
    height: int
    objects: list[ObjectRecord] = field(default_factory=list)
    mask_path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """File name without folder and extension."""
        return self.image.rsplit("/", 1)[-1].rsplit(".", 1)[0]
