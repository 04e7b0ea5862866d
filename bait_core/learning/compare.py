"""Strategies side by side: many runs (strategy × seed), their summary and the paper's penalty matrix.

A `Comparison` is a list of `RunRecord`s plus the plan that produced them. Every seed gives all
strategies the same initial labeled set, the same initial weights and the same training shuffles, so
the runs differ only by what each strategy picks. `run_comparison` runs them one after another
(a generator: the app runs it in a worker thread and shows each run's status); `run_record` is one
run, the task that service.executors runs in worker processes or on Ray. DEFAULT_SEEDS (5) is how
many seeds a comparison gets by default, and `seeds_note` says what fewer can detect.

The penalty matrix follows Ash et al. (BADGE, ICLR 2020; reused by the BAIT paper): at every
checkpoint (a round after the first acquisition, i.e. rounds 1..R where every strategy has chosen
labels of its own), a two-sided paired t-test over the seeds (scipy.stats.ttest_rel) compares
strategies i and j; when i is
significantly better (p < alpha and a better mean), P[i, j] gains 1 / #checkpoints. Row i says how
often i beats the others, column j how often j is beaten: the column means (lower is better) rank
the strategies. Spreads over seeds ("±" in the summaries, plots.auc_table / curve_stats) are the
sample standard deviation (ddof = 1). `same_strategies` names strategies that coincide by construction
(margin = entropy = least confidence for K = 2).

Shapes: S strategies, C checkpoints, n seeds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from bait_core.records import schemas
from bait_core.records.metrics import MetricSpec, common_metric
from bait_core.records.run_record import RoundResult, RunConfig, RunRecord, check_version, new_record, read_json
from bait_core.learning.loop import run_rounds
from bait_core.records.schemas import MAX_RUNS
from bait_core.selection.registry import STRATEGIES

KIND = "bait-explorer-comparison"
SCHEMA_VERSION = 1

# Seeds a comparison gets by default (the CLI's `compare --seeds`). The penalty matrix's paired t-test
# over n seeds (n − 1 degrees of freedom, two-sided, p < 0.05) calls a difference significant only when
# the mean per-seed difference exceeds t(0.975, n − 1) / √n of its standard deviation (scipy.stats.t):
# 8.98 with 2 seeds, 2.48 with 3, 1.59 with 4, 1.24 with 5, 0.72 with 10. With 5 seeds a difference that
# holds on most seeds can register; with 3 only one about 2.5× its own spread. Runs go in parallel
# (service.executors), so 5 seeds cost about 5/3 of 3 seeds' wall time.
DEFAULT_SEEDS = 5


def _t_factor(n: int) -> float:
    """t(0.975, n − 1) / √n: the smallest mean/std of n paired differences a two-sided t-test calls
    significant at p < 0.05 (n ≥ 2)."""
    from scipy import stats
    return float(stats.t.ppf(0.975, n - 1) / math.sqrt(n))


def seeds_note(n_seeds: int) -> Optional[str]:
    """A sentence for a comparison with fewer than DEFAULT_SEEDS seeds (None from DEFAULT_SEEDS on):
    what its paired t-tests can detect, and the seeds to ask for. n_seeds: a whole number ≥ 1."""
    n = int(n_seeds)
    if n >= DEFAULT_SEEDS:
        return None
    if n < 2:
        return (f"{n} seed: no spread and no paired t-test (the penalty matrix needs 2 seeds or more); use "
                f"{DEFAULT_SEEDS} seeds or more for differences that can reach significance.")
    return (f"{n} seeds: the paired t-tests have {n - 1} degree{'s' if n > 2 else ''} of freedom, so a difference "
            f"is significant (p < 0.05) only when its mean over the seeds exceeds {_t_factor(n):.2f} times its standard "
            f"deviation; use {DEFAULT_SEEDS} seeds or more (with {DEFAULT_SEEDS}: {_t_factor(DEFAULT_SEEDS):.2f} times).")


@dataclass(frozen=True)
class ComparePlan:
    """What to compare: every strategy × every seed with the `base` run settings."""

    base: RunConfig
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]

    def validate(self, task: str = "classification", n_pool: Optional[int] = None) -> None:
        """ValueError with a sentence for a plan that cannot run."""
        if not self.strategies:
            raise ValueError("Choose at least one strategy to compare.")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"Unknown strategy {', '.join(unknown)}. Known strategies: {', '.join(STRATEGIES)}.")
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError("Each strategy can appear only once in a comparison.")
        if not self.seeds:
            raise ValueError("Choose at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("Each seed can appear only once in a comparison.")
        if len(self.strategies) * len(self.seeds) > MAX_RUNS:
            raise ValueError(f"That is {len(self.strategies) * len(self.seeds)} runs; at most {MAX_RUNS} fit in one "
                             "comparison.")
        for s in self.strategies:
            replace(self.base, strategy=s, seed=self.seeds[0]).validate(task, n_pool)
        for seed in self.seeds:
            replace(self.base, seed=seed).validate(task, n_pool)

    def runs(self) -> list[RunConfig]:
        """One config per run: seeds in the outer loop, so each seed's runs finish together."""
        return [replace(self.base, strategy=s, seed=seed) for seed in self.seeds for s in self.strategies]

    def to_dict(self) -> dict:
        return {"base": asdict(self.base), "strategies": list(self.strategies), "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, d: Any) -> "ComparePlan":
        """A plan from its saved dict (checked against schemas.PlanSchema; ValueError with a sentence)."""
        return cls._from_schema(schemas.validate(schemas.PlanSchema, d, "comparison plan"))

    @classmethod
    def _from_schema(cls, p: "schemas.PlanSchema") -> "ComparePlan":
        return cls(base=RunConfig(**p.base.model_dump(exclude_unset=True)), strategies=tuple(p.strategies),
                   seeds=tuple(p.seeds))


@dataclass
class Comparison:
    """The records of a comparison (possibly partial: a stopped comparison keeps its finished runs)."""

    records: list[RunRecord] = field(default_factory=list)
    plan: Optional[ComparePlan] = None

    @property
    def strategies(self) -> list[str]:
        """Strategies in plan order (or first appearance)."""
        seen = list(self.plan.strategies) if self.plan else []
        for r in self.records:
            if r.config.strategy not in seen:
                seen.append(r.config.strategy)
        return [s for s in seen if any(r.config.strategy == s for r in self.records)]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.config.seed for r in self.records})

    @property
    def metric(self) -> MetricSpec:
        """The test metric every run measures (records.metrics); ValueError when there are no rounds
        or the runs mix metrics (accuracy and RMSE have no common "better")."""
        return common_metric(r.rounds[0].metric_name for r in self.records if r.rounds)

    @property
    def higher_is_better(self) -> bool:
        """From the metric's spec (accuracy: True, RMSE: False); True when no run has a round yet
        (nothing to rank). ValueError when the runs mix metrics."""
        if not any(r.rounds for r in self.records):
            return True
        return self.metric.higher_is_better

    def record(self, strategy: str, seed: int) -> Optional[RunRecord]:
        for r in self.records:
            if r.config.strategy == strategy and r.config.seed == seed:
                return r
        return None

    # --- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"kind": KIND, "schema_version": SCHEMA_VERSION,
                           "plan": None if self.plan is None else self.plan.to_dict(),
                           "records": [r.to_dict() for r in self.records]}, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Comparison":
        """A comparison file, or a single run record (a comparison of one run). The file is checked
        against schemas.ComparisonSchema and each record as RunRecord.from_dict; ValueError with a
        sentence naming the record and field otherwise (also for a record with no rounds)."""
        d = read_json(text, "file")
        if isinstance(d, dict) and d.get("kind") == "bait-explorer-run":
            return cls.from_records([RunRecord.from_dict(d)])
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ValueError("This is neither a BAIT Explorer comparison nor a run record "
                             f"(no 'kind': '{KIND}').")
        check_version(d.get("schema_version"), SCHEMA_VERSION, "comparison")
        c = schemas.validate(schemas.ComparisonSchema, d, "comparison")
        plan = None if c.plan is None else ComparePlan._from_schema(c.plan)
        records = []
        for i, r in enumerate(c.records, start=1):
            try:
                records.append(RunRecord.from_dict(r))
            except ValueError as e:
                raise ValueError(f"Record {i} of the comparison cannot be read. {e}") from None
        return cls.from_records(records, plan)

    @classmethod
    def from_records(cls, records: Sequence[RunRecord], plan: Optional[ComparePlan] = None) -> "Comparison":
        """Records of one comparison (e.g. the JSON files the CLI's `compare` writes). They must be
        on the same dataset with one run per strategy and seed, and each has at least one round;
        ValueError with a sentence otherwise."""
        records = list(records)
        if not records:
            raise ValueError("No run records to compare.")
        if len(records) > MAX_RUNS:
            raise ValueError(f"That is {len(records)} run records; at most {MAX_RUNS} fit in one comparison.")
        empty = [r for r in records if not r.rounds]
        if empty:
            raise ValueError(f"The run of {empty[0].config.strategy} with seed {empty[0].config.seed} has no rounds; "
                             "a comparison needs at least one measured round per run.")
        sources = {str(r.dataset.get("source")) for r in records}
        by_seed: dict = {}
        for r in records:
            by_seed.setdefault(r.config.seed, set()).add(r.dataset.get("fingerprint"))
        # a built-in dataset is split by the seed (one fingerprint per seed); a file is one dataset
        same_data = len(sources) == 1 and all(len(f) == 1 for f in by_seed.values()) and (
            next(iter(sources)).startswith("builtin:") or len({f for fs in by_seed.values() for f in fs}) == 1)
        if not same_data:
            raise ValueError("These records are runs on different datasets ("
                             + ", ".join(sorted({str(r.dataset.get('name')) for r in records})[:5]) + ", or files "
                             "of the same name with different contents); a comparison needs one dataset.")
        for field_name, words in (("batch_size", "batch size"), ("initial", "initial labeled set"),
                                  ("rounds", "number of rounds"), ("model", "model"), ("preset", "training preset")):
            values = sorted({str(getattr(r.config, field_name)) for r in records})
            if len(values) > 1:
                raise ValueError(f"These runs differ in their {words} ({', '.join(values[:5])}); a comparison needs "
                                 "runs that differ only by strategy and seed (as the Compare page and `compare` make them).")
        models = {(r.model.get("name"), r.model.get("parameters")) for r in records}
        if len(models) > 1:
            raise ValueError("These runs used different models; a comparison needs one model.")
        pairs = [(r.config.strategy, r.config.seed) for r in records]
        dup = sorted({p for p in pairs if pairs.count(p) > 1})
        if dup:
            raise ValueError(f"More than one record for {dup[0][0]} with seed {dup[0][1]}; keep one per strategy "
                             "and seed.")
        tasks = {r.dataset.get("task") for r in records}
        if len(tasks) > 1:
            raise ValueError("These records mix classification and regression runs.")
        return cls(records=records, plan=plan)


# --- running ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunEvent:
    """Progress of a comparison: `kind` is "start", "round", or "done" for run `index` of `total`."""

    kind: str
    index: int
    total: int
    strategy: str
    seed: int
    round: int = 0
    rounds: int = 0
    metric: Optional[float] = None
    record: Optional[RunRecord] = None
    metric_name: str = ""               # "round" events: the metric's name (records.metrics)


def run_one(config: RunConfig, dataset: Any, model: Any, *, progress: Optional[Callable[[str, int, int, Optional[float]], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> Iterator[RoundResult]:
    """The rounds of ONE comparison run (`config`: strategy and seed set), as `run_comparison` and the
    executors (service.executors) keep them: each RoundResult without its (N, d) embeddings, (N, K)
    probabilities and extras. `model` is trained in place (its current weights are the initial weights
    of every round): pass a fresh model or a copy. ValueError sentences from the round engine."""
    for result in run_rounds(dataset, model, config, progress=progress, should_stop=should_stop):
        yield replace(result, embeddings=None, probs=None, extras={})          # arrays not kept


def run_record(config: RunConfig, dataset: Any, model: Any, *,
               should_stop: Optional[Callable[[], bool]] = None) -> Optional[RunRecord]:
    """ONE whole comparison run as a RunRecord (`run_one`'s rounds), or None when `should_stop()` ended
    it before its final round. The task every executor runs (service.executors)."""
    record = new_record(config, dataset, model)
    record.rounds.extend(run_one(config, dataset, model, should_stop=should_stop))
    stop = should_stop or (lambda: False)
    if stop() or not record.rounds or not record.rounds[-1].is_final:
        return None
    return record


def run_comparison(plan: ComparePlan, load_dataset: Callable[[int], Any], build_model: Callable[[Any, int], Any],
                   *, progress: Optional[Callable[[str, int, int, Optional[float]], None]] = None,
                   should_stop: Optional[Callable[[], bool]] = None) -> Iterator[RunEvent]:
    """Run every (seed, strategy) of `plan` one after another in this thread, yielding RunEvents;
    "done" events carry the RunRecord. (service.executors runs them in worker processes or on Ray.)

    load_dataset(seed) gives the dataset of a seed (loaded once per seed, shared by its strategies);
    build_model(dataset, seed) a fresh model whose weights are the initial weights of every round.
    progress/should_stop are passed to each run's rounds (train epochs, greedy steps)."""
    stop = should_stop or (lambda: False)
    runs = plan.runs()
    datasets: dict[int, Any] = {}
    for i, config in enumerate(runs):
        if stop():
            return
        if config.seed not in datasets:
            datasets = {config.seed: load_dataset(config.seed)}
        dataset = datasets[config.seed]
        model = build_model(dataset, config.seed)
        record = new_record(config, dataset, model)
        yield RunEvent("start", i, len(runs), config.strategy, config.seed, 0, config.rounds + 1)
        for result in run_one(config, dataset, model, progress=progress, should_stop=should_stop):
            record.rounds.append(result)
            yield RunEvent("round", i, len(runs), config.strategy, config.seed, result.round + 1,
                           config.rounds + 1, result.metric, metric_name=result.metric_name)
        if stop() or not record.rounds or not record.rounds[-1].is_final:
            return
        yield RunEvent("done", i, len(runs), config.strategy, config.seed, len(record.rounds), config.rounds + 1,
                       record.auc(), record)


# --- analysis -----------------------------------------------------------------------------------

def curves(comparison: Comparison) -> dict[str, np.ndarray]:
    """strategy → (n_seeds, R) metric per round, over the rounds every run of it has."""
    out = {}
    for s in comparison.strategies:
        recs = [r for r in comparison.records if r.config.strategy == s]
        n = min(len(r.rounds) for r in recs)
        out[s] = np.array([[x.metric for x in r.rounds[:n]] for r in recs], dtype=np.float64)
    return out


def _paired_t_pvalue(diff: np.ndarray) -> float:
    """Two-sided p-value of a paired t-test on the per-seed differences a − b (n,), NaN when undefined.

    scipy.stats.ttest_rel(a, b) (Student's t with n − 1 degrees of freedom, sample std ddof=1), given
    the differences as a against zeros. Only the zero-variance case is handled by hand: every seed
    agrees exactly, so the difference is certain when it is non-zero (p = 0) and there is none when it
    is zero (NaN); scipy would answer NaN (0/0) or warn of catastrophic cancellation there.
    """
    from scipy import stats

    diff = np.asarray(diff, dtype=np.float64)
    if diff.size < 2:
        return math.nan
    if float(diff.std(ddof=1)) == 0.0 or np.all(diff == diff[0]):
        return 0.0 if float(diff.mean()) != 0.0 else math.nan     # every seed agrees exactly
    return float(stats.ttest_rel(diff, np.zeros_like(diff)).pvalue)


# Strategies that rank the pool identically for some number of classes K (their scores are strictly
# monotone functions of one another), so their picks coincide up to exact ties and rounding.
#   K = 2: with q = max p ∈ [½, 1]: margin = 2q − 1, least confidence = 1 − q, entropy = H(q) decreasing
#   in q on [½, 1]: all three rank by q (smallest first).
_SAME_FOR_K = {2: (("confidence", "entropy", "margin"),)}


def same_strategies(strategies: Sequence[str], n_classes: int) -> list[tuple[str, ...]]:
    """Groups (each ≥ 2 names, sorted) of `strategies` that are mathematically the same selection on data
    with `n_classes` classes (0 or 1: regression, no group), so a comparison can say that their curves
    coincide by construction. For K = 2, margin = entropy = least confidence (all rank by max p).
    Example: same_strategies(["bait", "margin", "entropy"], 2) == [("entropy", "margin")].
    """
    names = set(strategies)
    out = []
    for group in _SAME_FOR_K.get(int(n_classes), ()):
        hit = tuple(sorted(names.intersection(group)))
        if len(hit) >= 2:
            out.append(hit)
    return out


@dataclass(frozen=True)
class PenaltyMatrix:
    strategies: list[str]
    matrix: np.ndarray          # (S, S): P[i, j] = share of checkpoints where i is significantly better than j
    n_checkpoints: int
    n_seeds: int
    alpha: float

    @property
    def column_means(self) -> np.ndarray:
        """(S,) mean of each column over the other strategies: how often it is beaten (lower is better)."""
        S = len(self.strategies)
        if S < 2:
            return np.zeros(S)
        return (self.matrix.sum(0) - np.diag(self.matrix)) / (S - 1)


def penalty_matrix(comparison: Comparison, alpha: float = 0.05) -> PenaltyMatrix:
    """The pairwise penalty matrix over the checkpoints rounds 1..R (see the module doc). Runs are
    paired by seed; a pair of strategies with fewer than 2 common seeds earns nothing."""
    names = comparison.strategies
    sign = 1.0 if comparison.higher_is_better else -1.0
    by = {(r.config.strategy, r.config.seed): r for r in comparison.records}
    n_rounds = min(len(r.rounds) for r in comparison.records)
    checkpoints = list(range(1, n_rounds)) or [0]
    P = np.zeros((len(names), len(names)))
    seeds_used = 0
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            seeds = sorted(s for (st, s) in by if st == a and (b, s) in by)
            seeds_used = max(seeds_used, len(seeds))
            if len(seeds) < 2:
                continue
            for c in checkpoints:
                diff = sign * np.array([by[(a, s)].rounds[c].metric - by[(b, s)].rounds[c].metric for s in seeds])
                p = _paired_t_pvalue(diff)
                if math.isfinite(p) and p < alpha and diff.mean() > 0:
                    P[i, j] += 1.0 / len(checkpoints)
    return PenaltyMatrix(strategies=names, matrix=P, n_checkpoints=len(checkpoints), n_seeds=seeds_used, alpha=alpha)


def first_round_picks(comparison: Comparison, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """strategy → (labeled_before (N,) bool, picks (B,)) of round 0 for one seed: every strategy starts
    from the same initial set and the same trained model, so the picks differ only by the strategy."""
    out = {}
    for s in comparison.strategies:
        r = comparison.record(s, seed)
        if r is not None and r.rounds and r.rounds[0].selection is not None:
            out[s] = (r.rounds[0].labeled_before, r.rounds[0].selection.indices)
    return out


def timing_table(comparison: Comparison) -> list[dict]:
    """Per strategy: mean seconds per round spent training, computing outputs and selecting."""
    rows = []
    for s in comparison.strategies:
        rounds = [x for r in comparison.records if r.config.strategy == s for x in r.rounds]
        rows.append({"strategy": s, "rounds": len(rounds),
                     **{f"{k}_s": float(np.mean([x.times.get(k, 0.0) for x in rounds])) if rounds else math.nan
                        for k in ("train", "outputs", "select")},
                     "device": ", ".join(sorted({x.device for x in rounds if x.device}))})
    return rows
