"""Fixtures shared by every test folder.

``tiny_checkpoint`` is a real EarthGPT-X checkpoint in a tiny random configuration
(``EgxConfig.tiny()``, a tokenizer trained in-process on a seeded corpus), saved with
``save_pretrained`` to a temporary folder. Its answers are meaningless but every code
path is the product's own: tests use it to check plumbing, shapes and georeferencing,
never answer quality.
"""

from __future__ import annotations

import pytest

TINY_CORPUS = [
    "Describe this image.", "A harbour with two ships near the coast.", "What kind of scene is this?",
    "What is in region 1?", "a ship", "a storage tank", "a person", "a car", "an oil well", "a small target",
    "Describe region 1.", "What is the relation between region 1 and region 2?", "region 1 is left of region 2",
    "Find all ships.", "Find all people.", "Find all small targets.", "Segment region 1.", "[DET]", "[SEG]",
    "There are 3 ships: <box>[100,200,300,400]</box>", "yes", "no", "How many ships are there?",
    "0 1 2 3 4 5 6 7 8 9", "This is an optical image.", "This is a SAR image.", "This is an infrared image.",
]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Path of a tiny random EarthGPT-X checkpoint (model + processor, safetensors)."""
    import torch

    from egx_notebook.model import EgxConfig, EgxForConditionalGeneration, EgxProcessor, train_tokenizer

    torch.manual_seed(0)
    tokenizer = train_tokenizer(TINY_CORPUS * 4, vocab_size=400)
    config = EgxConfig.tiny()
    processor = EgxProcessor(tokenizer=tokenizer, image_size=config.image_size)
    config = processor.configure(config)
    model = EgxForConditionalGeneration(config).eval()
    path = tmp_path_factory.mktemp("tiny-egx")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
