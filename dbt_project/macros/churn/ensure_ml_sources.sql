{#- The tables of the `ml` source (what the churn steps in Python write), created empty when
    they do not exist yet, so that a plain `dbt build` (a test, a first run, dbt alone) builds
    the churn marts empty instead of failing. The same columns as TABLES in
    ml/churn/pipeline.py (tests/test_churn_pipeline.py keeps the two in step). -#}
{% macro ensure_ml_sources() %}
    {%- if target.type != 'duckdb' -%}
        {{ return('') }}
    {%- endif -%}
    create schema if not exists ml;
    create table if not exists ml.churn_scores (
        user_id varchar not null, as_of_date date not null,
        churn_probability double not null, risk_tier varchar not null,
        reason_1 varchar, reason_2 varchar, reason_3 varchar,
        feature_1 varchar, feature_2 varchar, feature_3 varchar,
        model_version varchar not null, model_name varchar not null, scored_at timestamp not null
    );
    create table if not exists ml.churn_model_evaluation (
        model_version varchar not null, trained_as_of date not null,
        fold integer not null, model varchar not null, kind varchar not null,
        is_chosen boolean not null, is_promoted boolean not null,
        validation_start date not null, train_start date not null, train_end date not null,
        train_snapshots integer not null, roc_auc double, pr_auc double, brier double,
        log_loss double, top_decile_lift double, churn_rate double, n bigint not null
    );
    create table if not exists ml.churn_calibration (
        model_version varchar not null, fold integer not null,
        model varchar not null, kind varchar not null, bin integer not null,
        bin_lower double, bin_upper double, users bigint not null, mean_predicted double,
        observed_rate double
    );
{% endmacro %}
