"""Moved to `winback.generate.evaluation`: the evaluation goes with the generator whose ground
truth it reads. This name stays only while tests/test_disengagement_demo.py imports it."""

from winback.generate.evaluation import (
    HealthRanking,
    PatternScores,
    health_ranking,
    pattern_scores,
    read_truth,
    report,
)

__all__ = [
    "HealthRanking",
    "PatternScores",
    "health_ranking",
    "pattern_scores",
    "read_truth",
    "report",
]
