"""The churn marts are views built by the run's one `dbt build`; their data tests are the asset
checks `winback_churn_marts`, run after the churn steps and before the publication."""

import dagster as dg
import duckdb

from orchestration.dbt import CHURN_MART_CHECKS, winback_churn_marts
from orchestration.definitions import defs
from orchestration.resources import WarehouseResource


def key(s: str) -> dg.AssetKey:
    return dg.AssetKey(s.split("/"))


def test_a_marts_run_calls_dbt_once_and_checks_the_churn_marts_between_the_steps_and_publishing():
    job = defs.resolve_job_def("build_marts")
    nodes = {n.name for n in job.graph.nodes}
    assert [n for n in nodes if n.startswith("winback_dbt_models")] == ["winback_dbt_models"]
    deps = job.graph.dependency_structure

    def upstream(node: str) -> set[str]:
        return {
            output.node.name
            for outputs in deps.input_to_upstream_outputs_for_node(node).values()
            for output in outputs
        }

    assert {"ml__churn_scores", "churn_model", "winback_dbt_models"} <= upstream(
        "winback_churn_marts"
    )
    assert "winback_churn_marts" in upstream("published__bi_marts")
    graph = defs.resolve_asset_graph()
    names = {c.name for c in graph.asset_check_keys if c.asset_key == key("marts/churn_scores")}
    assert names == {name for mart, name, _, _ in CHURN_MART_CHECKS if mart == "churn_scores"}
    assert all(spec.blocking for spec in winback_churn_marts.check_specs)


def test_the_churn_mart_checks_count_the_rows_that_break_them(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.churn_scores as select * from (values "
            "('u1', date '2025-03-01', 0.2, 'low'), ('u1', date '2025-03-01', 0.3, 'low'), "
            "('u2', date '2025-03-01', 1.5, 'high'), ('u3', date '2025-03-01', 0.9, 'urgent'), "
            "('u4', date '2025-03-01', null, null)) "
            "as t(user_id, as_of_date, churn_probability, risk_tier)"
        )
        con.execute(
            "create table marts.churn_model_evaluation as select * from (values "
            "('v1', 1, 'logistic'), ('v1', 2, 'logistic'), ('v1', 2, 'hgb'), ('v1', 2, 'hgb'), "
            "('v1', 2, 'xgboost')) as t(model_version, fold, model)"
        )
        con.execute("create table marts.churn_calibration (model_version varchar)")
    results = {
        r.check_name: r
        for r in winback_churn_marts(warehouse=WarehouseResource(database=str(path)))
    }
    failing = {name: r.metadata["failing_rows"].value for name, r in results.items()}
    assert failing == {
        "unique_combination_churn_scores_user_id__as_of_date": 1,
        "between_churn_scores_churn_probability__1__0": 1,
        "accepted_values_churn_scores_risk_tier__high__medium__low": 1,
        "unique_combination_churn_model_evaluation_model_version__fold__model": 1,
        "accepted_values_churn_model_evaluation_model__logistic__hgb__bgnbd_calibrated__recency__bgnbd": 1,
    }
    assert not any(r.passed for r in results.values())
    assert results["between_churn_scores_churn_probability__1__0"].metadata["rows"].value == 5
