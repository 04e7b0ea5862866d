"""Walkthroughs: a saved story that plays a run record round by round with a few captions per step.

A `Story` is a title, an introduction, a `RunRecord` and a list of `StoryStep`s (one round each,
a title and a plain-language caption). It is saved as JSON with its own schema name and version:

    {"schema": "bait-explorer-story", "version": 1, "title": ..., "intro": ...,
     "steps": [{"round": 0, "title": ..., "caption": ...}, ...], "record": <RunRecord.to_dict()>}

`Story.from_record` writes default captions from the record's numbers (labels, test metric and its
change, picks per class, the model's confidence on the picks, BAIT's objective during the forward
and backward passes), so any run can be saved as a walkthrough and then edited by hand.
Nothing here imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from bait_core.records import schemas
from bait_core.records.metrics import MetricSpec, metric_spec
from bait_core.records.run_record import JsonFile, RoundResult, RunRecord, check_version
from bait_core.selection.registry import SPECS, selection_label

STORY_SCHEMA = "bait-explorer-story"
STORY_VERSION = 1

# What each strategy looks for, in plain words (completes "... picked B points ..."): the registry's
# label and summary, "Entropy sampling (the points whose predicted class is most uncertain)".
STRATEGY_WORDS = {name: spec.words() for name, spec in SPECS.items()}


@dataclass(frozen=True)
class StoryStep:
    """One step of a walkthrough: which round it shows, its title and its caption."""

    round: int
    title: str
    caption: str

    def to_dict(self) -> dict:
        return {"round": int(self.round), "title": self.title, "caption": self.caption}


@dataclass
class Story(JsonFile):
    """A walkthrough: title, introduction, the run record it plays and one step per shown round."""

    WHAT = "walkthrough file"

    title: str
    intro: str
    record: RunRecord
    steps: list[StoryStep] = field(default_factory=list)
    version: int = STORY_VERSION

    # --------------------------------------------------------------------------- access
    def round_position(self, round_no: int) -> int:
        """Position in record.rounds of the round numbered `round_no` (ValueError if absent)."""
        for i, r in enumerate(self.record.rounds):
            if r.round == round_no:
                return i
        raise ValueError(f"The run record has no round {round_no}.")

    def round_of(self, step: int) -> RoundResult:
        """The RoundResult shown by step number `step` (0-based)."""
        return self.record.rounds[self.round_position(self.steps[step].round)]

    # --------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        return {"schema": STORY_SCHEMA, "version": STORY_VERSION, "title": self.title, "intro": self.intro,
                "steps": [s.to_dict() for s in self.steps], "record": self.record.to_dict()}

    @classmethod
    def from_dict(cls, d: Any) -> "Story":
        """A story from its parsed JSON: schema name and version, a non-empty title, text introduction,
        a valid run record (RunRecord.from_dict), at least one step showing a round the record has,
        lengths within schemas.StorySchema; ValueError with a sentence otherwise."""
        if isinstance(d, dict) and d.get("kind") == "bait-explorer-run":
            raise ValueError("This file is a run record, not a walkthrough. Open it on the Records page, or save "
                             "the current run as a walkthrough at the bottom of the Walkthrough page.")
        if not isinstance(d, dict) or d.get("schema") != STORY_SCHEMA:
            raise ValueError(f"This is not a BAIT Explorer walkthrough (no 'schema': '{STORY_SCHEMA}').")
        version = check_version(d.get("version"), STORY_VERSION, "walkthrough", label="story version")
        title, intro = d.get("title"), d.get("intro", "")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("The walkthrough is broken: it has no title.")
        if not isinstance(intro, str):
            raise ValueError("The walkthrough is broken: its introduction is not text.")
        if "record" not in d:
            raise ValueError("The walkthrough is broken: it holds no run record to play.")
        try:
            record = RunRecord.from_dict(d["record"])
        except ValueError as e:
            raise ValueError(f"The walkthrough's run record cannot be read. {e}") from None
        raw = d.get("steps")
        if not isinstance(raw, list) or not raw:
            raise ValueError("The walkthrough is broken: it has no steps.")
        known = sorted(r.round for r in record.rounds)
        steps = []
        for k, s in enumerate(raw, start=1):
            if not isinstance(s, dict):
                raise ValueError(f"The walkthrough is broken: step {k} is not a {{round, title, caption}} object.")
            rnd = s.get("round")
            if isinstance(rnd, bool) or not isinstance(rnd, int):
                raise ValueError(f"The walkthrough is broken: step {k} does not say which round it shows.")
            if not isinstance(s.get("title", ""), str) or not isinstance(s.get("caption", ""), str):
                raise ValueError(f"The walkthrough is broken: the title or caption of step {k} is not text.")
            if rnd not in known:
                have = "no rounds" if not known else (f"round {known[0]} only" if len(known) == 1
                                                     else f"rounds {known[0]}–{known[-1]} only")
                raise ValueError(f"Step {k} of the walkthrough shows round {rnd}, but its run record has {have}.")
            steps.append(StoryStep(round=rnd, title=s.get("title", ""), caption=s.get("caption", "")))
        schemas.validate(schemas.StorySchema, d, "walkthrough")      # lengths and counts (schemas.MAX_*)
        return cls(title=title, intro=intro, record=record, steps=steps, version=version)

    # --------------------------------------------------------------------------- defaults
    @classmethod
    def from_record(cls, record: RunRecord, title: Optional[str] = None, intro: Optional[str] = None) -> "Story":
        """A story with one step per recorded round and captions written from the record's numbers.
        The record's list of rounds is copied, so a live run that goes on does not change the story."""
        if not record.rounds:
            raise ValueError("The run has no rounds yet; run at least one round before saving it as a walkthrough.")
        record = replace(record, rounds=list(record.rounds))
        steps = [StoryStep(round=r.round, title=auto_step_title(record, i), caption=auto_caption(record, i))
                 for i, r in enumerate(record.rounds)]
        return cls(title=title or auto_title(record), intro=auto_intro(record) if intro is None else intro,
                   record=record, steps=steps)


# ------------------------------------------------------------------------------- caption helpers

def _metric(r: RoundResult) -> MetricSpec:
    return metric_spec(r.metric_name)


def _strategy_label(name: str) -> str:
    spec = SPECS.get(name)
    return f"The '{name}' strategy" if spec is None else spec.label


def _approximate(sel: Any) -> bool:
    """Whether a selection was made by an approximation (its params say so; see selection.approx)."""
    return str((sel.params or {}).get("approximation", "exact")) != "exact"


def _config_label(record: RunRecord) -> str:
    """The run's strategy label with its approximation: "BAIT (approximate: top-5 classes)"."""
    c = record.config
    if c.strategy not in SPECS:
        return _strategy_label(c.strategy)
    n_classes = len(_classes(record)) if record.dataset.get("task") != "regression" else 1
    return c.strategy_label(K=n_classes or None)


def _selection_who(sel: Any, explain: bool) -> str:
    """Who picked: "BAIT", "BAIT (approximate: top-5 classes)"; with `explain`, the summary as well."""
    if sel.strategy not in SPECS:
        return _strategy_label(sel.strategy)
    if not _approximate(sel):
        return STRATEGY_WORDS[sel.strategy] if explain else SPECS[sel.strategy].label
    label = selection_label(sel)
    if not explain:
        return label
    return f"{label[:-1]}; approximating {SPECS[sel.strategy].summary})"


def metric_text(r: RoundResult) -> str:
    """'test accuracy 47.7%' or 'test RMSE 0.412'."""
    if not math.isfinite(r.metric):
        return f"test {r.metric_name} unknown"
    m = _metric(r)
    return f"test {m.label} {m.fmt(r.metric)}"


def metric_value(r: RoundResult) -> str:
    return _metric(r).fmt(r.metric)


def delta_text(now: RoundResult, before: RoundResult) -> str:
    """'+9.4 points' (a share: accuracy) / 'down 0.05, better' (a value: RMSE) for the change of the test
    metric between two rounds."""
    d = now.metric - before.metric
    if not math.isfinite(d):
        return "change unknown"
    m = _metric(now)
    if not m.format.endswith("%"):
        if abs(d) < 5e-4 * max(1.0, abs(before.metric)):
            return "about the same"
        return f"{'down' if d < 0 else 'up'} {abs(d):.3g}, {'better' if d * m.better_sign() > 0 else 'worse'}"
    pts = 100 * d
    if abs(pts) < 0.05:
        return "no change"
    return f"{'+' if pts > 0 else '−'}{abs(pts):.1f} points"


def _classes(record: RunRecord) -> list[str]:
    return [str(c) for c in record.dataset.get("classes", [])]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def auto_title(record: RunRecord) -> str:
    c = record.config
    first, last = record.rounds[0], record.rounds[-1]
    approx = _config_label(record)
    name = c.strategy + (approx[approx.index(" ("):] if " (approximate" in approx else "")
    return (f"{name} on {record.dataset.get('name', 'the data')}: from {first.n_labeled} to "
            f"{_plural(last.n_labeled, 'label')}")


def auto_intro(record: RunRecord) -> str:
    c = record.config
    first, last = record.rounds[0], record.rounds[-1]
    words = _config_label(record)
    n_sel = sum(1 for r in record.rounds if r.selection is not None)
    text = (f"The '{c.model}' model learns the {record.dataset.get('name', '')} data set "
            f"({record.n_points} pool points) from {_plural(first.n_labeled, 'label')}; in each of "
            f"{_plural(n_sel, 'round')} {words} asks for {c.batch_size} more. ")
    m = _metric(first)
    name = m.label if m.higher_is_better else f"{m.label} ({m.better})"
    text += (f"Test {name} goes from {metric_value(first)} with {_plural(first.n_labeled, 'label')} to "
             f"{metric_value(last)} with {_plural(last.n_labeled, 'label')}.")
    return text


def auto_step_title(record: RunRecord, pos: int) -> str:
    r = record.rounds[pos]
    what = "final evaluation" if r.selection is None else ("the starting point" if pos == 0 else f"round {r.round}")
    return f"{what[0].upper() + what[1:]}: {_plural(r.n_labeled, 'label')}, {metric_text(r)}"


def _pick_sentence(record: RunRecord, r: RoundResult, explain: bool) -> str:
    sel = r.selection
    B = sel.batch_size
    who = _selection_who(sel, explain)
    text = f"{who} picked {_plural(B, 'new point')} to label"
    classes = _classes(record)
    counts = list(r.picked_class_counts)
    if classes and counts and sum(counts) > 0:
        covered = sum(1 for v in counts if v > 0)
        top = int(np.argmax(counts))
        text += f", spread over {covered} of the {len(classes)} classes"
        if counts[top] >= 2:
            ties = [classes[i] for i, v in enumerate(counts) if v == counts[top]]
            if len(ties) == 1:
                text += f" (most from class '{ties[0]}': {counts[top]})"
            else:
                text += f" (at most {counts[top]} from one class)"
    text += "."
    if r.confidence is not None and B:
        conf = np.asarray(r.confidence, dtype=np.float64)
        unl = ~np.asarray(r.labeled_before, dtype=bool)
        cp = float(np.nanmean(conf[sel.indices]))
        cu = float(np.nanmean(conf[unl])) if unl.any() else float("nan")
        if math.isfinite(cp) and math.isfinite(cu):
            text += (f" The model's average confidence on these picks was {cp:.2f}, against {cu:.2f} over "
                     "all unlabeled points")
            text += (": it asks about points it is less sure of." if cp < cu - 0.02 else
                     ": the picks are not simply the ones it is least sure of." if cp > cu + 0.02 else ".")
    return text


def _objective_sentence(sel) -> str:
    obj = np.asarray(sel.objective, dtype=np.float64)
    if not obj.size:
        return f"The '{sel.strategy}' strategy does not compute BAIT's Fisher objective."
    T = min(int(sel.n_forward), obj.size - 1)
    R = obj.size - 1 - T
    x0, xT, xe = obj[0], obj[T], obj[-1]
    what = (f"The approximate Fisher objective tr(M⁻¹F) ({sel.params['approximation'].replace(' (approximate)', '')}; "
            "lower is better)" if _approximate(sel) else "The Fisher objective tr(M⁻¹F) (lower is better)")
    text = (f"{what} fell from {x0:.3g} to {xT:.3g} while "
            f"{_plural(T, 'candidate')} were added one at a time")
    if R > 0:
        text += (f", then rose to {xe:.3g} as the {R} least useful "
                 f"{'one was' if R == 1 else 'ones were'} pruned back to a batch of {sel.batch_size}.")
    else:
        text += "."
    return text


def auto_caption(record: RunRecord, pos: int) -> str:
    """A few sentences about round `pos` of the record, all derived from its numbers."""
    r = record.rounds[pos]
    prev = record.rounds[pos - 1] if pos > 0 else None
    first = record.rounds[0]
    if r.selection is None:
        picked = r.n_labeled - first.n_labeled
        text = (f"Final evaluation: the model is trained once more on all {_plural(r.n_labeled, 'label')} "
                f"({picked} picked over the run) and reaches {metric_text(r)}")
        if prev is not None:
            text += f" ({delta_text(r, prev)} since round {prev.round}"
            text += f", {delta_text(r, first)} since round {first.round})." if pos > 1 else ")."
        else:
            text += "."
        return text + " Nothing is picked in this round; it measures the effect of the last batch."
    if prev is None:
        text = (f"Round {r.round}: the model was trained on the {_plural(r.n_labeled, 'label')} of the starting "
                f"set and reaches {metric_text(r)}.")
    else:
        text = (f"Round {r.round}: the model was trained on {_plural(r.n_labeled, 'label')} and reaches "
                f"{metric_text(r)} ({delta_text(r, prev)} since round {prev.round}).")
    explain = all(x.selection is None or x.selection.strategy != r.selection.strategy
                  for x in record.rounds[:pos])          # the strategy's first appearance: say what it does
    return " ".join([text, _pick_sentence(record, r, explain), _objective_sentence(r.selection)])
