"""Selection: the `Selection` result type, last-layer Fisher factors (`fisher`), exact BAIT (`bait`),
the baselines (`baselines`), the strategy registry (`registry`) and memory/time estimates
(`estimate`). Imports only `bait_core.common`. Math: docs/bait-math.md."""
