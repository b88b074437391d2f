"""The sample Grafana dashboard only queries metrics that /metrics really exposes."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "slicerweb-dashboard.json"
LOOPBACK = {"client": ("127.0.0.1", 50000)}


async def test_every_dashboard_query_names_an_exposed_metric(make_app):
    app, _ = make_app()
    async with app.test_app():
        client = app.test_client()
        await client.get("/slicer/system/version", scope_base=LOOPBACK)
        text = await (await client.get("/metrics", scope_base=LOOPBACK)).get_data(as_text=True)
    exposed = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    exposed |= {family.name + "_total" for family in text_string_to_metric_families(text) if family.type == "counter"}
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bslicerweb_[a-z_]+", target["expr"])}
    assert queried, "the dashboard queries nothing"
    assert queried <= exposed, sorted(queried - exposed)
