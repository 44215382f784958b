"""What the model diagnostics in ``benchmarks/`` share: the real datasets and their arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The real datasets with a validation split, in the order the tables list them.
REAL_DATASETS = ("ssdd", "sirst-v2", "hit-uav", "nepu-owod")


def recheck_from(value: str) -> float | None:
    """``--recheck-from``: a score, or ``none`` for one look (``ground(recheck_from=None)``)."""
    return None if value.lower() == "none" else float(value)


def grounding_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser for the real-chip grounding diagnostics: ``--checkpoint`` (default: the bundled
    model, None), ``--data-root``, ``--max-images`` and ``--datasets``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder; default: the bundled model")
    p.add_argument("--data-root", type=Path, required=True, help="the folder holding the datasets (../shared/data)")
    p.add_argument("--max-images", type=int, default=100, help="validation images per dataset")
    p.add_argument("--datasets", nargs="+", choices=REAL_DATASETS, default=list(REAL_DATASETS),
                   help="which real datasets (default: all)")
    return p


def diagnostic_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with ``--checkpoint`` (default: the shipped one), ``--data`` and ``--data-root``."""
    from egx_notebook.model import DEFAULT_CHECKPOINT

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--data", type=Path, required=True, help="folder with the dataset builder's JSONL files")
    p.add_argument("--data-root", type=Path, required=True, help="the folder holding the datasets (../shared/data)")
    return p
