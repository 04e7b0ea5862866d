"""One registry of strategy specs: name -> :class:`StrategySpec` (the function and everything the
app, the CLI, run configs, stories and memory estimates need to know about it). All functions have
the same call shape

    fn(embeddings, probs, labeled, batch_size, *, seed=0, device=None, dtype=torch.float64,
       progress=None, memory_limit=None, threads=None, **options) -> Selection

`COMMON_KEYWORDS` are taken by every strategy and are not strategy options (not in RunConfig, not in
run records): memory_limit (selection.estimate.memory_checked) and threads (the CPU thread count,
selection.estimate.thread_policy: it does not change the picks) are handled by the decorators every
strategy function wears.

`SPECS` (name -> spec, in display order) is the source; `STRATEGIES` (name -> fn) and
:func:`get_strategy` are derived from it and kept for callers that only need the function.
A new strategy is one `StrategySpec` entry here; tests/test_strategies_contract.py then checks that
its needs_probs, score direction and option defaults match what the function does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Dict, Literal, Mapping, Optional

from bait_core.selection import baselines
from bait_core.selection.approx import APPROXIMATION, POOL_SAMPLE, TOP_CLASSES, Approximation
from bait_core.selection.bait import LAMB, OVERSAMPLE, bait_select
from bait_core.selection.base import OptionSpec, Selection

StrategyFn = Callable[..., Selection]

# keyword arguments every strategy takes besides its own options (StrategySpec.options, engine_options)
COMMON_KEYWORDS = ("seed", "device", "dtype", "progress", "memory_limit", "threads")

__all__ = ["StrategyFn", "COMMON_KEYWORDS", "Source", "USES", "OptionSpec", "StrategySpec", "SPECS", "STRATEGIES", "get_spec",
           "get_strategy", "unknown_strategy", "regression_strategies", "run_options", "strategy_help", "strategy_label",
           "selection_label", "APPROXIMATION_HELP"]


@dataclass(frozen=True)
class Source:
    """Where a strategy comes from: authors, venue and year ("Ash et al., NeurIPS 2021"), and the
    paper's title."""

    authors: str
    venue: str
    year: int
    title: str = ""

    def __str__(self) -> str:
        return f"{self.authors}, {self.venue} {self.year}"

    def cite(self) -> str:
        """Authors, title and venue for a reader: 'Ash et al., “Gone Fishing: …”, NeurIPS 2021' (the venue
        left out when the title already starts with it, as for a technical report)."""
        if not self.title:
            return str(self)
        venue = "" if self.title.startswith(self.venue) else f"{self.venue} "
        return f"{self.authors}, “{self.title}”, {venue}{self.year}"


USES = ("embeddings", "probabilities")   # what a strategy can take from the model (StrategySpec.uses)


@dataclass(frozen=True)
class StrategySpec:
    """What the app, the CLI and run configs need to know about one strategy.

    name           registry key ("bait"); also RunConfig.strategy and Selection.strategy
    fn             the selection function (the call shape in the module doc)
    label          display name ("Entropy sampling"); starts the story's sentences
    summary        one line: what it picks, in plain words (CLI help, widget help, stories)
    needs_probs    True when it ranks by class probabilities: called with probs=None it raises
                   ValueError "... needs class probabilities ..."
    regression_ok  whether a regression model (no probabilities) can use it; never with needs_probs
    scores         direction of Selection.scores: "utility" (higher = more wanted), "cost" (lower =
                   more wanted) or None (no score: all NaN)
    first_pick_best  with scores: the first greedy pick (BAIT: first forward pick) is the best-scored
                   unlabeled point; False when the scores only describe the points (badge-sklearn's
                   first pick is random)
    options        name -> OptionSpec of its numeric options (each a RunConfig field)
    source         the paper it comes from, or None (random sampling)
    uses           what it takes from the model, a subset of USES in that order: "embeddings" (the last
                   hidden layer), "probabilities" (class probabilities; with needs_probs they are
                   required, without it they are used when the task has them, as BAIT's classification
                   Fisher does); () for random sampling
    memory_advice  the sentence that ends a "needs more memory" error (selection.estimate)
    engine_options keyword options of the function that are not run settings (not in RunConfig)
    score_name     what Selection.scores holds, in words (map hover texts); "" without scores
    """

    name: str
    fn: StrategyFn
    label: str
    summary: str
    needs_probs: bool
    regression_ok: bool
    scores: Optional[Literal["utility", "cost"]]
    source: Optional[Source] = None
    uses: tuple[str, ...] = ()
    first_pick_best: bool = True
    options: Mapping[str, OptionSpec] = field(default_factory=dict)
    memory_advice: str = "Use a pool sample or a machine with more memory."
    engine_options: tuple[str, ...] = ()
    score_name: str = ""

    def __post_init__(self) -> None:
        if self.needs_probs and self.regression_ok:
            raise ValueError(f"Strategy '{self.name}' needs class probabilities, so a regression model cannot use it.")
        if self.scores not in ("utility", "cost", None):
            raise ValueError(f"Strategy '{self.name}': scores must be 'utility', 'cost' or None, got {self.scores!r}.")
        if tuple(u for u in USES if u in self.uses) != tuple(self.uses):
            raise ValueError(f"Strategy '{self.name}': uses must be a subset of {USES} in that order, got {self.uses!r}.")
        if self.needs_probs and "probabilities" not in self.uses:
            raise ValueError(f"Strategy '{self.name}' needs class probabilities, so uses must name them.")
        if any(k != o.name for k, o in self.options.items()):
            raise ValueError(f"Strategy '{self.name}': every option must be keyed by its own name.")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def words(self) -> str:
        """The label with the summary: "Entropy sampling (the points whose predicted class is most
        uncertain)"."""
        return f"{self.label} ({self.summary})"

    def needs(self) -> str:
        """What it takes from the model and which tasks it serves, in words: "Uses the model's class
        probabilities: classification only."."""
        if not self.uses:
            return "Uses nothing from the model; works for classification and regression."
        if self.needs_probs:
            what = " and ".join({"embeddings": "embeddings (last hidden layer)",
                                 "probabilities": "class probabilities"}[u] for u in self.uses)
            return f"Uses the model's {what}: classification only."
        what = "embeddings (last hidden layer)" if "embeddings" in self.uses else "outputs"
        extra = ", and its class probabilities for classification" if "probabilities" in self.uses else ""
        return f"Uses the model's {what}{extra}; works for regression too."

    def describe(self) -> str:
        """The Setup page's line for this strategy: label, summary, what it uses, source (Markdown)."""
        src = (f"Source: {self.source.cite()}." if self.source
               else "Source: none (the standard baseline).")
        return f"**{self.label}** — {self.summary}. {self.needs()} {src}"

    def help(self) -> str:
        """One line for help texts: summary, options and source."""
        opts = "; options: " + ", ".join(f"{o.name} (default {o.default})" for o in self.options.values()) \
            if self.options else ""
        src = f" [{self.source}]" if self.source else ""
        return f"{self.summary}{opts}{src}"


_SETTLES = Source("Settles", "Active Learning Literature Survey", 2009,
                  "Active Learning Literature Survey (University of Wisconsin–Madison CS Technical Report 1648)")
_BADGE = Source("Ash et al.", "ICLR", 2020, "Deep Batch Active Learning by Diverse, Uncertain Gradient "
                                             "Lower Bounds")

_SPECS = (
    StrategySpec(
        "bait", bait_select, "BAIT",
        "the batch that adds the most Fisher information about the model",
        needs_probs=False, regression_ok=True, scores="utility",
        source=Source("Ash et al.", "NeurIPS", 2021, "Gone Fishing: Neural Active Learning with Fisher Embeddings"),
        uses=("embeddings", "probabilities"),
        options={"lamb": LAMB, "oversample": OVERSAMPLE, "approximation": APPROXIMATION, "top_classes": TOP_CLASSES,
                 "pool_sample": POOL_SAMPLE},
        memory_advice="Use a smaller embedding (a model with a smaller last hidden layer), fewer classes, the binary "
                      "approximation (--approximation binary, approximation='binary': D = d whatever K), or a GPU "
                      "with more memory; a pool sample helps only when the per-candidate blocks are the largest part.",
        engine_options=("setup", "record_steps"), score_name="Fisher gain at the first greedy step"),
    StrategySpec(
        "random", baselines.random_select, "Random sampling",
        "the baseline: points drawn uniformly at random",
        needs_probs=False, regression_ok=True, scores=None),
    *(StrategySpec(name, fn, label, summary, needs_probs=True, regression_ok=False, scores=scores, source=_SETTLES,
                   uses=("probabilities",), score_name=score_name)
      for name, fn, label, summary, scores, score_name in (      # the uncertainty scores of Settles' survey
          ("entropy", baselines.entropy_select, "Entropy sampling",
           "the points whose predicted class is most uncertain", "utility", "entropy"),
          ("margin", baselines.margin_select, "Margin sampling",
           "the points where the two most likely classes are closest", "cost",
           "margin (top-two gap; smallest picked first)"),
          ("confidence", baselines.confidence_select, "Least-confidence sampling",
           "the points with the lowest top-class probability", "utility", "1 − top-class probability"))),
    StrategySpec(
        "badge", baselines.badge_select, "BADGE",
        "uncertain and diverse points, by k-means++ over gradient embeddings",
        needs_probs=True, regression_ok=False, scores="utility", source=_BADGE, uses=("embeddings", "probabilities"),
        score_name="gradient-embedding norm",
        memory_advice="Use a pool sample or a smaller embedding."),
    StrategySpec(
        "badge-sklearn", baselines.badge_sklearn_select, "BADGE with scikit-learn's seeding",
        "uncertain and diverse points, by scikit-learn's greedy k-means++ over BADGE's gradient embeddings "
        "(not the paper's seeding)",
        needs_probs=True, regression_ok=False, scores="utility", first_pick_best=False, source=_BADGE,
        uses=("embeddings", "probabilities"), score_name="gradient-embedding norm",
        memory_advice="Use a smaller embedding (a model with a smaller last hidden layer), fewer classes or a pool "
                      "sample."),
    StrategySpec(
        "coreset", baselines.coreset_select, "Core-set selection",
        "the points farthest from everything labeled, to cover the pool",
        needs_probs=False, regression_ok=True, scores="utility",
        source=Source("Sener & Savarese", "ICLR", 2018,
                      "Active Learning for Convolutional Neural Networks: A Core-Set Approach"),
        uses=("embeddings",),
        score_name="distance to the nearest labeled point",
        memory_advice="Use a pool sample or a smaller embedding."),
)

SPECS: Mapping[str, StrategySpec] = MappingProxyType({s.name: s for s in _SPECS})
STRATEGIES: Dict[str, StrategyFn] = {s.name: s.fn for s in _SPECS}


def unknown_strategy(name: Any) -> ValueError:
    """The error for a name that is not registered: "Unknown strategy 'x'. Known strategies: ..."."""
    return ValueError(f"Unknown strategy '{name}'. Known strategies: {', '.join(SPECS)}.")


def get_spec(name: str) -> StrategySpec:
    """The spec registered as `name`; ValueError listing the known names otherwise."""
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise unknown_strategy(name) from None


def get_strategy(name: str) -> StrategyFn:
    """The registered function for `name`; ValueError listing the known names otherwise."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise unknown_strategy(name) from None


def regression_strategies() -> list[str]:
    """Names of the strategies a regression model can use, in registry order."""
    return [s.name for s in _SPECS if s.regression_ok]


def run_options() -> dict[str, OptionSpec]:
    """Every option any strategy takes, by name (RunConfig has one field per name), in registry order.
    ValueError when two strategies declare the same name with different specs."""
    out: dict[str, OptionSpec] = {}
    for s in _SPECS:
        for name, o in s.options.items():
            if out.setdefault(name, o) != o:
                raise ValueError(f"Option '{name}' is declared twice with different specs.")
    return out


# What the approximations are, for help texts (the Setup page, the CLI's offer), with their source.
APPROXIMATION_HELP = (
    "Exact BAIT costs about K²·d² per candidate and step. When that is out of reach, approximate BAIT "
    "(Huseljic et al., \"Fast Fishing\", ECML PKDD 2024): **top-c** keeps each point's c most probable "
    "classes in its Fisher information; **binary** uses the Bernoulli Fisher p̂(1 − p̂)·h hᵀ of the predicted "
    "class (d dimensions whatever K); a **pool sample** considers a random subset of the unlabeled points. "
    "The picks are then approximate and labelled so everywhere.")


def strategy_label(name: str, options: Optional[Mapping[str, Any]] = None, *, K: Optional[int] = None,
                   n_unlabeled: Optional[int] = None) -> str:
    """The strategy's display label with its approximation, if any: "BAIT", "BAIT (approximate: top-5
    classes)". options: its option values (RunConfig.strategy_options(), or Selection.params'
    "approximation_options"); K, n_unlabeled when known (top-c with c ≥ K, or a sample ≥ the pool, is
    exact). ValueError for an unknown name."""
    spec = get_spec(name)
    if options and "approximation" in spec.options:
        a = Approximation(str(options.get("approximation", "none")), int(options.get("top_classes", 10)),
                          int(options.get("pool_sample", 0)))
        words = a.label(K, n_unlabeled)
        if words:
            return f"{spec.label} ({words})"
    return spec.label


def selection_label(sel: Selection) -> str:
    """strategy_label of the run that made a Selection, from its params: "BAIT (approximate: binary)"; the
    plain label for exact selections and for records saved before approximations existed."""
    params = sel.params or {}
    if params.get("approximation") in (None, "exact") or not isinstance(params.get("approximation_options"), Mapping):
        return get_spec(sel.strategy).label if sel.strategy in SPECS else str(sel.strategy)
    return strategy_label(sel.strategy, params["approximation_options"], K=params.get("K"))


def strategy_help() -> str:
    """One line per strategy, "  name  Label — summary; options ... [source]", for --help texts."""
    width = max(len(n) for n in SPECS)
    return "strategies:\n" + "\n".join(f"  {s.name:<{width}}  {s.label} — {s.help()}" for s in _SPECS)
