"""Read-side views: the queue, one store, stats and the Prometheus gauges."""

from __future__ import annotations

from datetime import timedelta

from splitcart_scheduler.testing import Harness, record
from splitcart_shared.clock import SimulatedClock


async def test_the_queue_shows_what_comes_next_and_why(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"), record("COL:2"))
    await h.discover("aldi", record("G1"))
    await h.ingested("coles", "COL:2")
    sim_clock.advance(timedelta(days=2))

    everything = (await h.client.get("/v1/queue")).json()["items"]
    coles = (await h.client.get("/v1/queue", params={"company": "coles", "limit": 1})).json()[
        "items"
    ]

    assert [(i["store_id"], i["reason"], i["kind"]) for i in everything] == [
        ("G1", "never_scraped", "full"),
        ("COL:1", "new_store_probe", "spot"),
        ("COL:2", "anchor_refresh", "full"),
    ]
    assert [i["store_id"] for i in coles] == ["COL:1"]


async def test_the_queue_refuses_bad_parameters(h: Harness) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"company": "tesco"}):
        assert (await h.client.get("/v1/queue", params=params)).status_code == 422


async def test_a_store_is_found_by_company_and_url_encoded_chain_id(h: Harness) -> None:
    await h.discover("coles", record("COL:858"))
    view = (await h.client.get("/v1/stores/coles/COL%3A858")).json()
    assert (view["store_id"], view["lease"], view["next"]["reason"]) == (
        "COL:858",
        None,
        "never_scraped",
    )
    assert (await h.client.get("/v1/stores/coles/COL%3A1")).status_code == 404
    assert (await h.client.get("/v1/stores/tesco/1")).status_code == 422


async def test_a_store_view_shows_its_live_lease_without_the_token(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    lease = await h.lease_ok()
    view = await h.store("coles", "COL:1")
    assert view["lease"]["holder"] == "w1" and view["lease"]["live"] is True
    assert lease["token"] not in str(view)


async def test_a_manual_rescrape_puts_the_store_first(
    h: Harness, sim_clock: SimulatedClock
) -> None:
    await h.discover("coles", record("COL:1"), record("COL:2"))
    await h.ingested("coles", "COL:2")
    # Asked for after the scrape it follows (one of the same moment would already meet it).
    sim_clock.advance(timedelta(minutes=1))
    response = await h.client.post("/v1/stores/coles/COL%3A2/rescrape")
    assert response.status_code == 200
    assert response.json()["next"]["reason"] == "rescrape_requested"
    assert response.json()["rescrape_reason"] == "manual"
    assert (await h.lease_ok())["store"]["store_id"] == "COL:2"


async def test_a_manual_rescrape_with_bad_input_is_refused(h: Harness) -> None:
    await h.discover("coles", record("COL:1"))
    assert (await h.client.post("/v1/stores/coles/COL%3A9/rescrape")).status_code == 404
    assert (await h.client.post("/v1/stores/tesco/COL%3A1/rescrape")).status_code == 422
    too_long = {"reason": "x" * 33}
    assert (
        await h.client.post("/v1/stores/coles/COL%3A1/rescrape", json=too_long)
    ).status_code == 422
    assert (await h.store("coles", "COL:1"))["rescrape_requested_at"] is None


async def test_stats_and_gauges_count_due_work_and_live_leases(h: Harness) -> None:
    await h.discover("coles", record("COL:1"), record("COL:2"), record("COL:3"))
    await h.lease_ok()

    stats = (await h.client.get("/v1/stats")).json()
    metrics = (await h.client.get("/metrics")).text

    assert stats["due"] == [{"company": "coles", "reason": "never_scraped", "stores": 2}]
    assert {"company": "coles", "live": 1, "cap": 4} in stats["leases"]
    assert 'splitcart_scheduler_due_stores{company="coles",reason="never_scraped"} 2.0' in metrics
    assert 'splitcart_scheduler_due_stores{company="aldi",reason="member_check"} 0.0' in metrics
    assert 'splitcart_scheduler_live_leases{company="coles"} 1.0' in metrics


async def test_the_openapi_document_names_every_route(h: Harness) -> None:
    paths = (await h.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/leases",
        "/v1/leases/{token}/heartbeat",
        "/v1/leases/{token}/complete",
        "/v1/leases/{token}/fail",
        "/v1/queue",
        "/v1/stores/{company}/{store_id}",
        "/v1/stores/{company}/{store_id}/rescrape",
        "/v1/stats",
    ):
        assert path in paths, path


async def test_the_openapi_document_describes_the_lease_bodies(h: Harness) -> None:
    paths = (await h.client.get("/openapi.json")).json()["paths"]
    for path, field in (("/v1/leases", "worker_id"), ("/v1/leases/{token}/fail", "error")):
        body = paths[path]["post"]["requestBody"]
        assert body["required"] is True
        assert field in body["content"]["application/json"]["schema"]["properties"]
        assert "422" in paths[path]["post"]["responses"]
