"""Average the weights of checkpoints of one model (a "model soup").

    python -m egx_notebook.model.average runs/v11/final runs/v12/final --out runs/soup

Checkpoints fine-tuned from a common parent often sit in one basin of the loss, where
the mean of their weights scores as well as either or better (Wortsman et al., "Model
soups", ICML 2022). The output folder is a complete checkpoint: the averaged
``model.safetensors`` and every other file (config, processor, tokenizer, records)
copied from the last input, plus ``average.json`` naming the inputs and weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Sequence

__all__ = ["average_checkpoints", "main"]

WEIGHTS_FILE = "model.safetensors"


def average_checkpoints(checkpoints: Sequence[str | Path], out: str | Path,
                        weights: Sequence[float] | None = None) -> Path:
    """Write the weighted mean of ``checkpoints``' weights to the checkpoint folder ``out``.

    Parameters
    ----------
    checkpoints : sequence of path
        Two or more checkpoint folders of the same model: the same ``config.json`` and
        the same tensor names, shapes and dtypes in ``model.safetensors``.
    out : path
        The folder to write; it must not be one of the inputs.
    weights : sequence of float, optional
        One non-negative weight per checkpoint (normalised to sum 1); default equal.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValueError
        Fewer than two checkpoints, a missing weights or config file, weights that do not match,
        different configs or tensors, or ``out`` among the inputs.
    """
    import torch
    from safetensors.torch import load_file, save_file

    paths = [Path(c) for c in checkpoints]
    out = Path(out)
    if len(paths) < 2:
        raise ValueError("average_checkpoints needs two or more checkpoint folders")
    if any(out.resolve() == p.resolve() for p in paths):
        raise ValueError(f"--out {out} is one of the inputs; write the average to a new folder")
    for p in paths:
        missing = [f for f in (WEIGHTS_FILE, "config.json") if not (p / f).is_file()]
        if missing:
            raise ValueError(f"{p} has no {' or '.join(missing)}; pass checkpoint folders (e.g. runs/NAME/final)")
    w = [1.0] * len(paths) if weights is None else [float(x) for x in weights]
    if len(w) != len(paths) or any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"give one non-negative weight per checkpoint ({len(paths)}), not all zero; got {weights}")
    w = [x / sum(w) for x in w]

    configs = [json.loads((p / "config.json").read_text()) for p in paths]
    if any(c != configs[0] for c in configs[1:]):
        raise ValueError("the checkpoints' config.json differ: only checkpoints of one model can be averaged")

    states = [load_file(str(p / WEIGHTS_FILE)) for p in paths]
    first = states[0]
    for p, s in zip(paths[1:], states[1:]):
        if s.keys() != first.keys() or any(s[k].shape != first[k].shape or s[k].dtype != first[k].dtype
                                           for k in first):
            raise ValueError(f"{p}'s tensors differ from {paths[0]}'s in names, shapes or dtypes")

    averaged = {}
    for name, t in first.items():
        if t.is_floating_point():
            acc = sum(wi * s[name].to(torch.float64) for wi, s in zip(w, states))
            averaged[name] = acc.to(t.dtype).contiguous()
        else:  # integer buffers (counters, ids) are not averaged: the last input's are kept
            averaged[name] = states[-1][name]

    out.mkdir(parents=True, exist_ok=True)
    for f in paths[-1].iterdir():
        if f.is_file() and f.name != WEIGHTS_FILE:
            shutil.copy(f, out / f.name)
    save_file(averaged, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / "average.json").write_text(json.dumps(
        {"checkpoints": [str(p) for p in paths], "weights": w}, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders of one model")
    p.add_argument("--out", type=Path, required=True, help="the folder to write the averaged checkpoint to")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per checkpoint; default equal")
    a = p.parse_args(argv)
    try:
        out = average_checkpoints(a.checkpoints, a.out, a.weights)
    except ValueError as e:
        p.error(str(e))
    print(f"averaged {len(a.checkpoints)} checkpoints into {out}")


if __name__ == "__main__":
    main()
