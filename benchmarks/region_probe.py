"""Do the region tokens know the class, and does the LLM say it? A table per dataset.

    python benchmarks/region_probe.py --checkpoint model/checkpoints/default \\
        --data runs/data-v4 --data-root ../shared/data [--per-dataset 20]

For real validation referring prompts (one box each) it asks ``da.egx.refer(box=...)``
exactly as a user would, and compares two readings of the same region against the
annotation: the class named in the answer text, and the argmax of the training-only
region-class probe applied to the region token the LLM received. A probe that is right
where the text is wrong means the LLM does not read what its input carries; a probe that
is wrong too means the vision and fusion stages do not separate the classes.
"""

from __future__ import annotations

from collections import Counter

from _cli import REAL_DATASETS, diagnostic_parser


def main(argv: list[str] | None = None) -> None:
    import torch

    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import CLASSES, REGION_CLASSES
    from egx_notebook.model.evaluate import class_mentioned
    from egx_notebook.model.train import read_samples

    p = diagnostic_parser(__doc__)
    p.add_argument("--per-dataset", type=int, default=20)
    a = p.parse_args(argv)

    classes = {c.label: list(c.singular + c.plural) for c in CLASSES.values()}
    model, _ = egx.use(str(a.checkpoint)).load()
    captured: dict[str, torch.Tensor] = {}
    model.region_projector.register_forward_hook(lambda m, i, o: captured.__setitem__("regions", o.detach()))
    rows = read_samples(a.data / "val.jsonl")
    print(f"region probe vs answer text: {a.checkpoint}")
    print("| dataset | prompts | probe accuracy | text accuracy | most common (truth, probe, text) |")
    print("|---|---|---|---|---|")
    for ds in REAL_DATASETS:
        picked = [s for s in rows if s["dataset"] == ds and s["task"] == "refer" and len(s["prompts"]) == 1
                  and s["prompts"][0]["kind"] == "box"][: a.per_dataset]
        seen: Counter = Counter()
        for s in picked:
            truth = class_mentioned(s["conversation"][-1]["assistant"], classes) or "background"
            x0, y0 = (s["window"] or [0, 0])[:2]
            bx0, by0, bx1, by1 = s["prompts"][0]["xyxy"]
            da = egx.open_raster(a.data_root / s["image"], source=s["source"])
            answer = da.egx.refer(box=(x0 + bx0, y0 + by0, x0 + bx1, y0 + by1))
            text = class_mentioned(answer.text, classes) or "background"
            with torch.no_grad():
                probe = REGION_CLASSES[int(model.region_classifier(captured["regions"][0, 0]).argmax())]
            seen[(truth, probe, text)] += 1
        n = sum(seen.values())
        if not n:
            continue
        probe_ok = sum(v for (t, pr, _), v in seen.items() if pr == t) / n
        text_ok = sum(v for (t, _, tx), v in seen.items() if tx == t) / n
        common = "; ".join(f"{k[0]}/{k[1]}/{k[2]} x{v}" for k, v in seen.most_common(3))
        print(f"| {ds} | {n} | {probe_ok:.2f} | {text_ok:.2f} | {common} |")


if __name__ == "__main__":
    main()
