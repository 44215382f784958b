"""Greedy decoding with a KV cache that collects the hidden states of [SEG] / [DET] tokens."""

from __future__ import annotations

import torch
from transformers import DynamicCache

__all__ = ["greedy_generate"]


def greedy_generate(model, embeds: torch.Tensor, attention_mask: torch.Tensor,
                    max_new_tokens: int) -> tuple[torch.Tensor, list]:
    """Decode greedily from prepared input embeddings.

    Each generated token is fed back once, so a ``[SEG]``/``[DET]`` token's own last
    hidden state (the one its head reads, as in training) is available.

    Returns
    -------
    sequences : (B, T) long, ``pad`` after a row's ``<|end|>``
    hits : list of (row, "seg" | "det", hidden (H,)) in generation order
    """
    c = model.config
    lm = model.language_model
    embed = model.get_input_embeddings()
    b = embeds.shape[0]
    cache = DynamicCache(config=lm.config)
    mask = attention_mask.long()
    pos = model._position_ids(mask)
    out = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
    # tokens that only the processor writes are never a valid next token
    banned = torch.tensor(sorted({c.pad_token_id, c.bos_token_id, c.image_token_id, c.region_token_id}),
                          device=embeds.device)

    def choose(logits: torch.Tensor) -> torch.Tensor:
        return logits.index_fill(-1, banned, float("-inf")).argmax(-1)

    next_tok = choose(out.logits[:, -1])
    last_pos = pos[:, -1]
    finished = torch.zeros(b, dtype=torch.bool, device=embeds.device)
    pad = torch.full_like(next_tok, c.pad_token_id)
    seqs, hits = [], []
    for step in range(max_new_tokens):
        tok = torch.where(finished, pad, next_tok)
        seqs.append(tok)
        special = (~finished) & ((tok == c.seg_token_id) | (tok == c.det_token_id))
        done = finished | (tok == c.end_token_id)
        if (done.all() or step == max_new_tokens - 1) and not special.any():
            break
        mask = torch.cat([mask, (~finished).long()[:, None]], dim=1)
        last_pos = last_pos + 1
        out = lm(inputs_embeds=embed(tok)[:, None], attention_mask=mask, position_ids=last_pos[:, None],
                 past_key_values=cache, use_cache=True, output_hidden_states=bool(special.any()))
        if special.any():
            h = out.hidden_states[-1][:, -1]
            for r in special.nonzero(as_tuple=True)[0].tolist():
                hits.append((r, "seg" if int(tok[r]) == c.seg_token_id else "det", h[r]))
        next_tok = choose(out.logits[:, -1])
        finished = done
        if finished.all():
            break
    sequences = torch.stack(seqs, dim=1) if seqs else embeds.new_zeros(b, 0, dtype=torch.long)
    return sequences, hits
