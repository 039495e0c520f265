"""How well a policy does: seeded rollouts, intervals, Ray plumbing, and the driving
harness (scenario suites, metrics, A/B verdicts, reports)."""
