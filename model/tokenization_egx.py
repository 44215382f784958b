"""The tokenizer of the small EarthGPT-X: byte-level BPE trained in-process.

Trained with the ``tokenizers`` library on the instruction texts (digits split one by
one so that box coordinates tokenise uniformly), wrapped as a transformers
``PreTrainedTokenizerFast`` and saved as ``tokenizer.json`` with the checkpoint.
Larger models can use any Hugging Face tokenizer instead: :func:`add_egx_tokens`
adds the special tokens EarthGPT-X needs.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SPECIAL_TOKENS", "EXTRA_TOKENS", "train_tokenizer", "add_egx_tokens"]

# Order matters: the ids 0..9 are EgxConfig's default token ids.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<|end|>", "<unk>", "<|user|>", "<|assistant|>",
                  "<image>", "<region>", "[SEG]", "[DET]")
# Ordinary added tokens (kept when decoding): the box markup the LLM reads and writes.
EXTRA_TOKENS = ("<box>", "</box>")


def _wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<|end|>", pad_token="<pad>",
        unk_token="<unk>", padding_side="left",
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<pad>", "<bos>", "<|end|>", "<unk>")],
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1200):
    """Train a byte-level BPE tokenizer on ``texts``.

    Parameters
    ----------
    texts : iterable of str
        Training corpus (questions and answers).
    vocab_size : int
        Target vocabulary size including the 256 byte symbols and special tokens.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        With the EarthGPT-X special tokens at ids 0-9 and ``<box>``/``</box>`` added.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("<box>", "isolated"),
        pre_tokenizers.Split("</box>", "isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=max(int(vocab_size), len(SPECIAL_TOKENS) + 260),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((str(t) for t in texts), trainer=trainer)
    tok.add_tokens(list(EXTRA_TOKENS))
    return _wrap(tok)


def add_egx_tokens(tokenizer) -> int:
    """Add the EarthGPT-X special and box tokens to any Hugging Face tokenizer.

    Returns the number of tokens added (resize the LLM's embeddings to ``len(tokenizer)``).
    """
    n = tokenizer.add_tokens([t for t in SPECIAL_TOKENS if t not in ("<pad>", "<bos>", "<unk>")],
                             special_tokens=True)
    if tokenizer.pad_token is None:
        n += tokenizer.add_special_tokens({"pad_token": "<pad>"})
    n += tokenizer.add_tokens(list(EXTRA_TOKENS))
    return n
