"""Typed errors raised by egx-notebook.

Every error says what went wrong *and* what to do about it. All of them derive
from :class:`EgxError`, so ``except egx.EgxError`` catches everything the
package raises on purpose.
"""

from __future__ import annotations

__all__ = ["EgxError", "PromptError", "SourceError", "CRSError", "ModelError", "LabelError"]


class EgxError(Exception):
    """Base class of every error egx-notebook raises on purpose."""


class PromptError(EgxError, ValueError):
    """A question or a visual prompt (point, box, polygon, mask) is unusable."""


class SourceError(EgxError, ValueError):
    """A raster cannot be turned into model input (dtype, bands, size, nodata)."""


class CRSError(EgxError, ValueError):
    """A coordinate reference system is missing, unknown or not applicable."""


class ModelError(EgxError, RuntimeError):
    """The model cannot be loaded or run."""


class LabelError(EgxError, ValueError):
    """Reference labels given for scoring (true regions) are unusable."""
