"""How well the disengagement marts recover what the demo generator hid: its latent archetypes
(ground truth `users.csv`) and who really churned next. Only for generated data: the pipeline
itself never reads the truth folder.

Patterns are scored on the users whose pattern had started at least `min_onset_days` before
the as-of date (the truth's `pattern_onset_date`): a decline that begins tomorrow, or a card
that fails next month, cannot be seen today by any method. The scores over every user are
reported beside them.

The health score is scored as a ranking: on a past day E (`back_days` before the as-of date),
among the users with a score that day who had not churned yet, those whose true churn date
falls in the next `horizon_days` days against all the others (ROC AUC; 0.5 is a coin)."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from winback.disengagement import PATTERNS


@dataclass
class PatternScores:
    as_of: dt.date
    users: int
    precision: dict[str, float]
    recall: dict[str, float]
    confusion: pd.DataFrame  # truth archetype (rows) x pattern found (columns)

    @property
    def macro_precision(self) -> float:
        return sum(self.precision.values()) / len(self.precision)

    @property
    def macro_recall(self) -> float:
        return sum(self.recall.values()) / len(self.recall)


@dataclass
class HealthRanking:
    day: dt.date
    users: int
    churned: int
    auc: float
    auc_by_archetype: dict[str, float]  # churners of one archetype against all who stayed


def read_truth(truth_dir: Path) -> pd.DataFrame:
    return pd.read_csv(
        Path(truth_dir) / "users.csv",
        dtype={"user_id": str, "archetype": str},
        parse_dates=["signup_date", "first_active_date", "churn_date", "pattern_onset_date"],
    )


def pattern_scores(
    con: duckdb.DuckDBPyConnection, truth: pd.DataFrame, min_onset_days: int | None = 14
) -> PatternScores:
    """Precision and recall per pattern against the archetypes. `min_onset_days` None: every
    user in the truth file."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    found = con.execute(
        "select user_id, pattern, as_of_date from marts.user_disengagement_patterns"
    ).df()
    as_of = pd.Timestamp(found.as_of_date.max())
    joined = truth.merge(found, on="user_id", how="left")
    joined["pattern"] = joined["pattern"].fillna("missing")
    if min_onset_days is not None:
        cutoff = as_of - pd.Timedelta(days=min_onset_days)
        joined = joined[joined.pattern_onset_date <= cutoff]
    labels = list(PATTERNS)
    precision, recall, _, _ = precision_recall_fscore_support(
        joined.archetype, joined.pattern, labels=labels, zero_division=0
    )
    matrix = confusion_matrix(joined.archetype, joined.pattern, labels=labels)
    return PatternScores(
        as_of=as_of.date(),
        users=len(joined),
        precision=dict(zip(labels, precision.round(3).tolist(), strict=True)),
        recall=dict(zip(labels, recall.round(3).tolist(), strict=True)),
        confusion=pd.DataFrame(matrix, index=labels, columns=labels),
    )


def health_ranking(
    con: duckdb.DuckDBPyConnection,
    truth: pd.DataFrame,
    back_days: int = 60,
    horizon_days: int = 60,
) -> HealthRanking:
    from sklearn.metrics import roc_auc_score

    # the last day of the spans user_daily_health expands (its max, without expanding them)
    latest = con.execute("select max(valid_to) from marts.user_day_spans").fetchone()[0]
    day = latest - dt.timedelta(days=back_days)
    scores = con.execute(
        "select user_id, health_score from marts.user_daily_health where activity_date = ?",
        [day],
    ).df()
    joined = scores.merge(truth, on="user_id")
    when = pd.Timestamp(day)
    joined = joined[joined.churn_date.isna() | (joined.churn_date >= when)]
    churned = joined.churn_date <= when + pd.Timedelta(days=horizon_days)
    stayed = ~churned
    by_archetype = {}
    for archetype in PATTERNS[1:]:
        group = stayed | (churned & (joined.archetype == archetype))
        if (churned & (joined.archetype == archetype)).any():
            by_archetype[archetype] = round(
                float(roc_auc_score(stayed[group], joined.health_score[group])), 3
            )
    return HealthRanking(
        day=day,
        users=len(joined),
        churned=int(churned.sum()),
        auc=round(float(roc_auc_score(stayed, joined.health_score)), 3),
        auc_by_archetype=by_archetype,
    )


def report(warehouse: Path, truth_dir: Path) -> str:
    truth = read_truth(truth_dir)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        declared = pattern_scores(con, truth)
        everyone = pattern_scores(con, truth, min_onset_days=None)
        ranking = health_ranking(con, truth)
    lines = [f"Disengagement patterns as of {declared.as_of} against the generator's archetypes"]
    for name, scores in (
        ("pattern started 14+ days before", declared),
        ("every user", everyone),
    ):
        lines.append(
            f"  {name:<34} {scores.users:>6,} users  macro precision {scores.macro_precision:.3f}"
            f"  macro recall {scores.macro_recall:.3f}"
        )
    lines.append("")
    lines.append("  per pattern (14+ days)       precision  recall")
    for p in PATTERNS:
        lines.append(f"    {p:<26} {declared.precision[p]:>9.3f}  {declared.recall[p]:.3f}")
    lines.append("")
    lines.append("  confusion (rows: truth, columns: found), 14+ days")
    lines.append("    " + declared.confusion.to_string().replace("\n", "\n    "))
    lines.append("")
    lines.append(
        f"Health score on {ranking.day}: {ranking.users:,} users not yet churned, "
        f"{ranking.churned:,} churned in the next 60 days; ROC AUC {ranking.auc:.3f}"
    )
    for archetype, auc in ranking.auc_by_archetype.items():
        lines.append(f"    {archetype:<26} churners vs all who stayed: AUC {auc:.3f}")
    return "\n".join(lines)
