"""A tiny real checkpoint whose answers always carry masks and boxes (for plumbing tests).

:func:`steer_checkpoint` loads a checkpoint (e.g. the session's ``tiny_checkpoint``),
sets a few of its weights so that greedy decoding writes ``" <word> [SEG] [DET]"``
whatever the input, and saves it with ``save_pretrained``. Everything after that is
the product's own path: ``egx.use(path)`` loads it from safetensors, the processor
builds the chat, the image encoder, the [SEG] mask decoder and the [DET] dense head
run on the real view, and ``post_process`` maps masks and boxes back to the view.
The weights are chosen, not trained: the answers say nothing about the image, but
every answer has one [SEG] mask and a few grounded boxes with their masks, so tests
can check where masks land on the raster's grid.

How: the decoder's attention and MLP outputs are zeroed, so the last hidden state is
the current token's embedding; with tied embeddings the next-token logits are then
the bilinear form ``e_x^T diag(g) e_j`` (g = final norm weight). Choosing the
embeddings of the chain tokens as eigenvectors of a path-graph matrix with rising
weights (and g as its eigenvalues) makes each chain token's successor the argmax.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def steer_checkpoint(src: str | Path, dst: str | Path, *, word: str = "ship", max_detections: int = 3) -> Path:
    """Copy the checkpoint at ``src`` to ``dst`` with weights that always answer ``word`` [SEG] [DET].

    The [DET] head's heatmap, size and mask biases are raised so that it reports
    ``max_detections`` boxes of about 8 canvas pixels with their masks; the [SEG]
    head's refinement bias is raised so its mask is not empty.
    """
    import torch

    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor

    model = EgxForConditionalGeneration.from_pretrained(str(src), use_safetensors=True)
    processor = EgxProcessor.from_pretrained(str(src))
    tok = processor.tokenizer
    cfg = model.config
    chain = [tok.convert_tokens_to_ids("<|assistant|>")]
    chain += tok(" " + word, add_special_tokens=False)["input_ids"]
    chain += [cfg.seg_token_id, cfg.det_token_id, cfg.end_token_id]
    if len(set(chain)) != len(chain):
        raise ValueError(f"chain tokens must be distinct, got {tok.convert_ids_to_tokens(chain)}")
    n = len(chain)
    path_graph = np.zeros((n, n))
    for i in range(n - 1):
        path_graph[i, i + 1] = path_graph[i + 1, i] = i + 1.0  # rising weights: successor wins each row
    eigvals, eigvecs = np.linalg.eigh(path_graph)
    lm = model.language_model
    if lm.get_output_embeddings().weight.data_ptr() != lm.get_input_embeddings().weight.data_ptr():
        raise ValueError("steer_checkpoint needs tied input/output embeddings")
    with torch.no_grad():
        for layer in lm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = lm.get_input_embeddings().weight
        emb[:, :n] = 0
        for i, t in enumerate(chain):
            emb[t] = 0
            emb[t, :n] = torch.tensor(eigvecs[i], dtype=emb.dtype)
        norm = lm.model.norm.weight
        norm.zero_()
        norm[:n] = torch.tensor(eigvals, dtype=norm.dtype)
        model.det_head.heatmap.bias.fill_(3.0)  # every peak scores ~0.95 > det_score_threshold
        model.det_head.size.bias.fill_(2.0)  # ~8 canvas px boxes
        model.det_head.mask_out[-1].bias.fill_(4.0)  # box masks positive inside their boxes
        model.seg_head.refine[-1].bias.fill_(4.0)  # [SEG] mask positive (mostly)
    model.config.det_max_detections = max_detections
    dst = Path(dst)
    model.save_pretrained(dst)
    processor.save_pretrained(dst)
    return dst
