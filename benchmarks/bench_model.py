"""Per-stage latency and peak memory of EarthGPT-X (default shape), printed as a table.

    nice -n 10 .venv/bin/python benchmarks/bench_model.py                    # CPU, random default shape
    python benchmarks/bench_model.py --checkpoint path/to/final --device cuda --dtype bfloat16

Without ``--checkpoint`` the shipped checkpoint (``egx_notebook.model.DEFAULT_CHECKPOINT``)
is used when it holds safetensors, else a randomly initialised ``EgxConfig()`` with a
tokenizer trained in-process (same shapes, so the same cost; answers are meaningless).

Stages (median of ``--repeats`` after ``--warmup`` runs, milliseconds):

* preprocess: value physics, resize/pad onto the canvas (numpy, CPU);
* encode image: stems + ConvNeXt (+ViT) -> cached ``EgxImageFeatures``;
* prompt + fusion: rasterise the visual prompt, prompt ViT, hybrid fusion, projectors;
* LLM prefill: the chat prompt with image/region tokens through the LLM, KV cache filled;
* LLM decode: ``--new-tokens`` greedy steps on the cache (forced to run all N steps);
* mask view term: the view's share of the full-resolution mask refinement, computed by the
  first mask asked of a view and cached with its features;
* mask decode [SEG]: SAM decoder + the rest of the refinement for one [SEG] state;
* grounding head [DET]: dense head + peak decoding for one [DET] state;
* post-process: canvas -> view mapping of one mask and the boxes;
* follow-up prompt -> mask: on an already-encoded view, a new prompt all the way to a
  mask on the view grid (rasterise, fusion, LLM over the prompt and its [SEG] answer,
  mask decoder, post-process) - the interactive path;
* generate (free-running): ``model.generate`` end to end, as a notebook calls it.

Peak memory: process max RSS (``resource.getrusage``; psutil's current RSS too when
installed) and ``torch.cuda.max_memory_allocated`` on a GPU. No numbers are asserted.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

CORPUS = [
    "Describe this image.", "What kind of scene is this?", "What is in this image?", "What is in region 1?",
    "Describe region 1.", "What is the relation between region 1 and region 2?", "Find all ships.",
    "Find all storage tanks.", "Find all small targets.", "Segment region 1.", "[DET]", "[SEG]",
    "A harbour with several ships moored along the pier.", "An airport with parked aircraft.",
    "region 1 is to the left of region 2", "There are 3 ships: <box>[100,200,300,400]</box>",
    "0 1 2 3 4 5 6 7 8 9", "yes", "no", "a ship", "a storage tank", "an oil well", "a bridge",
]


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="checkpoint folder (default: the shipped one if present, else random default shape)")
    p.add_argument("--random", action="store_true", help="ignore the shipped checkpoint; random EgxConfig()")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--dtype", default=None, help="float32 (CPU default), bfloat16 or float16 (CUDA)")
    p.add_argument("--view", type=int, nargs=2, default=(300, 400), metavar=("H", "W"),
                   help="view array size in pixels (non-square on purpose: padding is part of the cost)")
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    return p.parse_args(argv)


def _build(args, torch):
    from egx_notebook.model import (DEFAULT_CHECKPOINT, EgxConfig, EgxForConditionalGeneration, EgxProcessor,
                                    train_tokenizer)

    ckpt = args.checkpoint
    if ckpt is None and not args.random and DEFAULT_CHECKPOINT.is_dir() and any(DEFAULT_CHECKPOINT.glob("*.safetensors")):
        ckpt = DEFAULT_CHECKPOINT
    if ckpt is not None:
        return (EgxForConditionalGeneration.from_pretrained(ckpt), EgxProcessor.from_pretrained(ckpt),
                f"checkpoint {ckpt}")
    torch.manual_seed(0)
    tokenizer = train_tokenizer(CORPUS * 8, vocab_size=1200)
    config = EgxConfig()
    processor = EgxProcessor(tokenizer=tokenizer, image_size=config.image_size)
    config = processor.configure(config)
    config.text_config.vocab_size = max(config.text_config.vocab_size, 1200)  # keep the default LM head size
    return EgxForConditionalGeneration(config), processor, "random EgxConfig() (default shape)"


class Timer:
    """Median-of-repeats timing with device synchronisation."""

    def __init__(self, torch, device, repeats: int, warmup: int):
        self.torch, self.device, self.repeats, self.warmup = torch, device, repeats, warmup
        self.rows: list[tuple[str, list[float], str]] = []
        self.progress = True

    def _sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def run(self, name: str, fn, note: str = "", per: int = 1):
        for _ in range(self.warmup):
            fn()
        times = []
        for _ in range(self.repeats):
            self._sync()
            t0 = time.perf_counter()
            fn()
            self._sync()
            times.append((time.perf_counter() - t0) * 1000 / per)
        self.rows.append((name, times, note))
        if self.progress:
            print(f"  {name}: {statistics.median(times):.2f} ms (median of {len(times)})", file=sys.stderr, flush=True)

    def table(self) -> str:
        w = max(len(r[0]) for r in self.rows)
        lines = [f"| {'stage':<{w}} | median ms |    min ms | notes", f"|{'-' * (w + 2)}|-----------|-----------|------"]
        for name, t, note in self.rows:
            lines.append(f"| {name:<{w}} | {statistics.median(t):9.2f} | {min(t):9.2f} | {note}")
        return "\n".join(lines)


def _peak_memory(torch, device) -> list[str]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / 1024 if sys.platform != "darwin" else rss / 2 ** 20
    out = [f"peak RSS (getrusage ru_maxrss): {rss_mib:.1f} MiB"]
    try:
        import psutil

        out.append(f"current RSS (psutil): {psutil.Process().memory_info().rss / 2 ** 20:.1f} MiB")
    except ImportError:
        pass
    if device.type == "cuda":
        out.append(f"CUDA max_memory_allocated: {torch.cuda.max_memory_allocated(device) / 2 ** 20:.1f} MiB")
    return out


def main(argv=None) -> None:
    args = _parse(argv)
    import torch
    from transformers import DynamicCache

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is available")
    dtype = getattr(torch, args.dtype) if args.dtype else torch.float32
    model, processor, what = _build(args, torch)
    model = model.to(device=device, dtype=dtype).eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    c = model.config
    h, w = args.view
    rng = np.random.default_rng(0)
    view = rng.gamma(2.0, 0.05, (2, h, w)).astype(np.float32)  # a dual-pol SAR view, linear power
    prompts = [{"kind": "box", "xyxy": [w * 0.3, h * 0.3, w * 0.45, h * 0.5]}]
    timer = Timer(torch, device, args.repeats, args.warmup)
    seg_id, det_id = c.seg_token_id, c.det_token_id
    n_params = sum(p.numel() for p in model.parameters())

    with torch.inference_mode():
        timer.run("preprocess (numpy)", lambda: processor.preprocess_image(view, "sar"), f"{h}x{w} -> {c.image_size}^2")
        image = processor.preprocess_image(view, "sar")
        pv, sid, vm, vs = (image.pixel_values.to(device, dtype), image.source_ids.to(device),
                           image.valid_mask.to(device, dtype), image.view_scale.to(device))
        timer.run("encode image", lambda: model.encode_images(pv, sid, vm, vs), "stems + backbone, cached per view")
        feats = model.encode_images(pv, sid, vm, vs)
        text = processor.build_inputs("segment", None, n_regions=1)
        ids, am = text["input_ids"].to(device), text["attention_mask"].to(device)
        pm_cpu = processor.rasterize_prompts(prompts, image.geometry)
        pm = pm_cpu.to(device, dtype)
        pvalid = torch.ones(1, 1, dtype=torch.bool, device=device)

        def prompt_fusion():
            m = processor.rasterize_prompts(prompts, image.geometry).to(device, dtype)
            return model.prepare_inputs_embeds(feats, ids, m, pvalid)

        timer.run("prompt + fusion", prompt_fusion, "rasterise, prompt ViT, fusion, projectors")
        embeds, fused = model.prepare_inputs_embeds(feats, ids, pm, pvalid)
        pos = model._position_ids(am)
        lm = model.language_model

        def prefill():
            cache = DynamicCache(config=lm.config)
            out = lm(inputs_embeds=embeds, attention_mask=am, position_ids=pos, past_key_values=cache,
                     use_cache=True, output_hidden_states=True)
            return cache, out

        timer.run("LLM prefill", prefill, f"{ids.shape[1]} tokens")
        embed = model.get_input_embeddings()

        def decode():
            cache, out = prefill()
            mask, last = am, pos[:, -1]
            tok = out.logits[:, -1].argmax(-1)
            for _ in range(args.new_tokens):
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                last = last + 1
                out = lm(inputs_embeds=embed(tok)[:, None], attention_mask=mask, position_ids=last[:, None],
                         past_key_values=cache, use_cache=True)
                tok = out.logits[:, -1].argmax(-1)

        prefill_ms = None
        timer.run(f"prefill + decode {args.new_tokens} tokens", decode, "greedy, KV cache")
        prefill_ms = statistics.median(timer.rows[-2][1])
        total = statistics.median(timer.rows[-1][1])
        timer.rows.append(("  = per decoded token", [(total - prefill_ms) / args.new_tokens], "derived (1 sample)"))
        _, out = prefill()
        hidden = out.hidden_states[-1][:, -1]
        rows = torch.zeros(1, dtype=torch.long, device=device)
        union = model._prompt_union(pm, pvalid)
        timer.run("mask view term", lambda: model.seg_head.view_term(feats.s4, feats.stem),
                  "full-res refinement's share of the view, once per view")
        timer.run("mask decode [SEG]", lambda: model.run_seg(rows, hidden, feats, fused, union),
                  "SAM decoder + refinement, view term cached")

        def det():
            maps = model.run_det(rows, hidden, feats, fused)
            return maps, model.det_head.decode(maps, 0.0, c.det_max_detections, c.det_nms_kernel, c.det_min_box,
                                               canvas=c.image_size)

        timer.run("grounding head [DET]", det, f"dense head + top-{c.det_max_detections} peaks")
        from egx_notebook.model import EgxGenerateOutput

        maps, decoded = det()
        seg_logits = model.run_seg(rows, hidden, feats, fused, union).float().cpu()
        crafted = EgxGenerateOutput(
            sequences=torch.tensor([[det_id, seg_id, c.end_token_id]]), prompt_ids=ids.cpu(),
            boxes=[decoded[0][0].float().cpu()], scores=[decoded[0][1].float().cpu()],
            box_mask_logits=[maps["mask"][0].float().cpu().expand(len(decoded[0][0]), -1, -1)],
            seg_mask_logits=[seg_logits])
        timer.run("post-process", lambda: processor.post_process(crafted, image.geometry),
                  f"1 mask + {len(decoded[0][0])} boxes -> view {h}x{w}")

        follow_ids = torch.cat([ids, torch.tensor([[seg_id, c.end_token_id]], device=device)], dim=1)
        follow_prompt = [{"kind": "point", "xy": [w * 0.6, h * 0.4]}]

        def follow_up():
            m = processor.rasterize_prompts(follow_prompt, image.geometry).to(device, dtype)
            out = model(input_ids=follow_ids, image_features=feats, prompt_masks=m)
            g = EgxGenerateOutput(sequences=torch.tensor([[seg_id, c.end_token_id]]), prompt_ids=ids.cpu(),
                                  boxes=[torch.zeros(0, 4)], scores=[torch.zeros(0)],
                                  box_mask_logits=[torch.zeros(0, c.image_size, c.image_size)],
                                  seg_mask_logits=[out.seg_logits.float().cpu()])
            return processor.post_process(g, image.geometry)[0]["masks"]

        timer.run("follow-up prompt -> mask", follow_up, "encoded view; prompt .. [SEG] .. mask on view grid")

        def generate():
            out = model.generate(image_features=feats, input_ids=ids, attention_mask=am, prompt_masks=pm,
                                 max_new_tokens=args.new_tokens)
            return processor.post_process(out, image.geometry)[0], out.sequences.shape[1]

        _, n_gen = generate()
        timer.run("generate (free-running)", generate, f"{n_gen} tokens generated (random model may stop early)")

    print(f"EarthGPT-X benchmark: {what}")
    print(f"  {n_params / 1e6:.2f}M parameters, image {c.image_size}^2, {c.image_seq_length} image tokens, "
          f"LLM {c.text_config.hidden_size}x{c.text_config.num_hidden_layers}")
    print(f"  device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()}), "
          f"dtype {str(dtype).replace('torch.', '')}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"median of {args.repeats} after {args.warmup} warm-up")
    print(timer.table())
    for line in _peak_memory(torch, device):
        print("  " + line)


if __name__ == "__main__":
    main()
