"""The one Definitions object of the winback code location, merged from per-domain modules."""

import dagster as dg

from orchestration import audiences, automation, campaigns, churn, dbt, ingest, publish
from orchestration.project import use_this_environments_dbt, winback_project
from orchestration.resources import WarehouseResource, WinbackDbtResource, WinbackSettings


def resources() -> dict:
    return {
        "dbt": WinbackDbtResource(
            project_dir=winback_project, dbt_executable=use_this_environments_dbt()
        ),
        "warehouse": WarehouseResource(),
        "winback": WinbackSettings(),
    }


defs = dg.Definitions.merge(
    ingest.defs,
    dbt.defs,
    churn.defs,
    audiences.defs,
    campaigns.defs,
    publish.defs,
    automation.defs,
    dg.Definitions(resources=resources(), executor=dg.in_process_executor),
)
