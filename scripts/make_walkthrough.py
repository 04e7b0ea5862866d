"""Write the bundled walkthrough, assets/walkthrough_digits.json, from a fresh run of the built-in demo.

    .venv/bin/python scripts/make_walkthrough.py [--out assets/walkthrough_digits.json] [--rounds 5]

The run is the app's default one (app_services.DEFAULT_CONFIG: digits + mlp + BAIT, batch 10, 20 initial
labels, seed 0, quick preset) cut to a few rounds and run on the CPU so it is reproducible; the
captions are written for a stakeholder audience, with every number filled in from the run itself.
Offline: the digits ship with scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bait_core.records.run_record import RunConfig
from bait_core.learning.loop import run  # noqa: E402
from bait_core.records.story import Story, StoryStep, delta_text  # noqa: E402

# Mirrors app_services.DEFAULT_CONFIG (tests/test_story.py checks it) except rounds and device.
CONFIG = RunConfig(data="builtin:digits", model="mlp", strategy="bait", rounds=5, batch_size=10, initial=20,
                   seed=0, preset="quick", device="cpu")

TITLE = "How BAIT chooses which digits to label"


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _obj(sel) -> tuple[str, str, str, int, int]:
    obj = np.asarray(sel.objective)
    T = int(sel.n_forward)
    return f"{obj[0]:.3g}", f"{obj[T]:.3g}", f"{obj[-1]:.3g}", T, obj.size - 1 - T


def _confidence(r) -> tuple[float, float]:
    conf = np.asarray(r.confidence, dtype=np.float64)
    return float(conf[r.selection.indices].mean()), float(conf[~r.labeled_before].mean())


def captions(record) -> tuple[str, list[StoryStep]]:
    R = record.rounds
    if len(R) < 6 or R[-1].selection is not None:
        raise SystemExit("The walkthrough's captions are written for at least 5 rounds plus the final evaluation.")
    B = record.config.batch_size
    N = record.n_points
    classes = len(record.dataset["classes"])
    r0, r1, r2, r3, r4, fin = R[0], R[1], R[2], R[3], R[4], R[-1]
    n_sel = len(R) - 1

    intro = (f"A small neural network learns to read handwritten digits: 8×8-pixel scans, {N} of them in the pool. "
             "Labels are the expensive part, because a person has to look at every image. Active learning lets the "
             f"model choose which images to ask about. Here BAIT chooses {B} images per round for {n_sel} rounds; "
             "follow what it picks and how much the model improves with Next and Previous.")

    steps = []
    steps.append(StoryStep(r0.round, f"Where we start: {r0.n_labeled} labels", (
        "Each dot on the map is one digit image, coloured by the digit it really shows; similar-looking images sit "
        f"close together. Only the {r0.n_labeled} black squares are labeled so far, chosen at random. Trained on "
        f"just these, the model reads {_pct(r0.metric)} of the test digits correctly. The gold stars are the {B} "
        "images BAIT asks a person to label next; their numbers give the order it chose them in.")))

    x0, xT, xe, T, P = _obj(r1.selection)
    steps.append(StoryStep(r1.round, "Why these images?", (
        "BAIT does not simply ask about the images the model finds confusing: it looks for the batch that, taken "
        "together, teaches the model the most (measured by the Fisher information). The chart on the right shows "
        f"its score tr(M⁻¹F), lower is better, falling from {x0} to {xT} as it adds {T} candidates one at a time, "
        f"then rising a little to {xe} as it drops the {P} least useful to keep {B}. With the first batch "
        f"labeled, accuracy went from {_pct(r0.metric)} to {_pct(r1.metric)}.")))

    covered = sum(1 for v in r2.picked_class_counts if v > 0)
    steps.append(StoryStep(r2.round, "Spreading the requests", (
        f"This round's {B} picks cover {covered} of the {classes} digits (the small images at the bottom right): "
        "instead of asking for many copies of one hard digit, BAIT spreads its requests so that several kinds of "
        f"mistakes get corrected at once. With {r2.n_labeled} labels the model now reads {_pct(r2.metric)} of the "
        f"test digits ({delta_text(r2, r1)} since the last round).")))

    cp, cu = _confidence(r3)
    if cp < cu:
        middle = ("BAIT asks about digits the model still hesitates over, not the ones it already reads well — "
                  "while still spreading the batch out.")
    else:
        middle = ("so BAIT is not just chasing uncertainty: it also weighs how much each image adds to what the "
                  "rest of the batch already covers.")
    steps.append(StoryStep(r3.round, "Asking where the model is unsure", (
        f"On average the model's confidence on this round's picks was {cp:.2f}, against {cu:.2f} over all the "
        f"images nobody has labeled yet: {middle} Accuracy: {_pct(r3.metric)} with {r3.n_labeled} labels.")))

    early = r2.metric - r1.metric
    late = r4.metric - r3.metric
    if late < early:
        trend = (f"The learning curve (bottom left) is flattening: this round added {delta_text(r4, r3)}, against "
                 f"{delta_text(r2, r1)} two rounds ago. The easy gains are made, and every further label has to be "
                 "chosen well to be worth its cost.")
    else:
        trend = (f"The learning curve (bottom left) is still climbing: this round added {delta_text(r4, r3)}. "
                 "Every label is chosen to be worth its cost.")
    steps.append(StoryStep(r4.round, "Diminishing returns", (
        f"{trend} The model now reads {_pct(r4.metric)} of the test digits with {r4.n_labeled} labels.")))

    steps.append(StoryStep(fin.round, "The result", (
        f"After {n_sel} rounds a person has labeled {fin.n_labeled} images, {fin.n_labeled / N:.1%} of the pool, "
        f"and the model reads {_pct(fin.metric)} of the test digits, up from {_pct(r0.metric)} with the first "
        f"{r0.n_labeled}. Nothing is picked here: this last training run measures the effect of the final batch. "
        "Try the same loop on your own data on the Setup page, and save any run as a walkthrough at the bottom "
        "of this page.")))
    return intro, steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "walkthrough_digits.json"))
    ap.add_argument("--rounds", type=int, default=CONFIG.rounds, help="selection rounds (at least 5)")
    args = ap.parse_args(argv)
    from dataclasses import replace
    config = replace(CONFIG, rounds=args.rounds)
    t0 = time.perf_counter()
    record = run(config)
    intro, steps = captions(record)
    story = Story(title=TITLE, intro=intro, record=record, steps=steps)
    Story.from_json(story.to_json())                      # the file must load back
    out = story.save(args.out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {len(steps)} steps, "
          f"{time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
