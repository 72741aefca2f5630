"""The dashboard in a real ``airflow api-server``: registered as a plugin, refused when logged out, and seen in a
real headless browser (Debian's Chromium) after logging in through Airflow's login page.

One API server for the module, on a fresh Airflow database and a platform database seeded with three days of
history of the repository's two models (a drifted feature, a promotion, a rejection and a rollback, health rows,
dead letters) and the OpenLineage events of the champion's training, promotion and rollback. Screenshots go to a
temporary folder; ``make screenshots`` (``ML_UPDATE_SCREENSHOTS=1``) writes them to docs/images/ (committed, shown in
the README), so that ``make test`` leaves the checkout as it was.
"""

import datetime as dt
import os

import httpx
import pytest

from ml_pipeline.config import config_dir, load_model_configs
from ml_pipeline.lineage.store import LineageStore
from tests.conftest import REPO_ROOT
from tests.support import lineage_events as ev
from tests.support.browser import browser_page, log_in
from tests.support.dashboard import PASSWORD, USER, api_server, fresh_database, seed

pytestmark = pytest.mark.integration
MODELS = ("fraud_detection", "recommendation")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Where the screenshots go: docs/images/ under ``ML_UPDATE_SCREENSHOTS=1`` (``make screenshots``)."""
    if os.environ.get("ML_UPDATE_SCREENSHOTS") == "1":
        return REPO_ROOT / "docs" / "images"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The API server's base URL, with the platform database seeded."""
    configs, _ = load_model_configs(sorted(config_dir().glob("*.yaml")))
    with fresh_database("dash_airflow") as airflow_db, fresh_database("dash_platform") as platform_db:
        now = dt.datetime.now(dt.UTC)
        seed(platform_db, sorted(configs.values(), key=lambda c: c.model_name), days=3, now=now)
        store = LineageStore(platform_db)
        for event in champion_lineage("fraud_detection", now):
            store.add(event)
        with api_server(tmp_path_factory.mktemp("airflow"), airflow_db, platform_db) as base:
            yield base


def champion_lineage(model: str, now: dt.datetime) -> list[dict]:
    """v3 trained on three days, promoted 9 days ago; v5 promoted 3 days ago, rolled back to v3 2 days ago."""
    def ago(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    days = [f"{ago(d):%Y-%m-%d}" for d in (13, 12, 11)]
    return [*ev.training(model, 3, days, ago(10)), *ev.deployment(model, 3, ago(9)),
            *ev.monitoring(model, 3, ago(8)), *ev.training(model, 5, days[1:], ago(4), fingerprint="fp-2"),
            *ev.deployment(model, 5, ago(3)), *ev.deployment(model, 3, ago(2), action="rolled_back"),
            *ev.monitoring(model, 3, ago(1))]


@pytest.fixture(scope="module")
def token(server):
    """A JWT of the test user, from the simple auth manager."""
    answer = httpx.post(f"{server}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def test_the_plugin_is_registered_with_its_app_and_navigation(server, token):
    answer = httpx.get(f"{server}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    plugin = next(p for p in answer.json()["plugins"] if p["name"] == "ml_platform")
    # and, last, the route-less app that builds the Task Execution API's routes as each worker starts (warmup.py)
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == \
        ["/ml-platform/api", "/ml-platform", "/ml-platform/startup"]
    # the lineage receiver answers before the dashboard for its path, and wants the lineage token, not a login
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        refused = httpx.post(f"{server}/ml-platform/api/lineage", json={}, headers=headers, timeout=30)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    views = {v["name"]: v for v in plugin["external_views"]}
    assert views["ML models"]["destination"] == "nav" and views["ML models"]["href"] == "/ml-platform/models"
    assert views["ML platform"]["destination"] == "nav"
    assert views["ML model"]["destination"] == "dag" and "{DAG_ID}" in views["ML model"]["href"]


@pytest.mark.parametrize("path", ["/ml-platform/models", "/ml-platform/models/fraud_detection",
                                  "/ml-platform/platform", "/ml-platform/dags/ml_training_fraud_detection"])
def test_a_logged_out_request_is_refused(server, path):
    assert httpx.get(f"{server}{path}", timeout=30).status_code == 401
    forged = httpx.get(f"{server}{path}", cookies={"_token": "not-a-jwt"}, timeout=30)
    assert forged.status_code in (401, 403)
    assert "Sign in" in forged.text


def test_a_dag_id_query_cannot_narrow_the_permission_check(server, token):
    """Airflow's ``requires_access_dag`` would check only the DAG a ``?dag_id=`` names: the dashboard refuses it."""
    client = httpx.Client(base_url=server, cookies={"_token": token}, timeout=30)
    assert client.get("/ml-platform/platform", params={"dag_id": "ml_training_fraud_detection"}).status_code == 400
    assert client.get("/ml-platform/platform").status_code == 200


def test_logged_in_pages_show_models_champions_and_the_drifted_feature(server, token):
    client = httpx.Client(base_url=server, cookies={"_token": token}, timeout=30)
    models = client.get("/ml-platform/models")
    assert models.status_code == 200, models.text
    for model in MODELS:
        assert f'data-model="{model}"' in models.text
    assert "v3" in models.text and "⚑ amount" in models.text  # fraud_detection's first feature drifts
    model = client.get("/ml-platform/models/fraud_detection")
    assert model.status_code == 200 and "amount drifted" in model.text
    for action in ("promoted", "rejected", "rolled_back", "canary error rate 12%"):
        assert action in model.text
    assert "2 of 4 runs missed" in model.text  # the recent alert
    platform = client.get("/ml-platform/platform")
    assert platform.status_code == 200 and "ml_training_recommendation" in platform.text
    assert "scheduler" in platform.text
    tab = client.get("/ml-platform/dags/model_monitoring_recommendation", follow_redirects=False)
    assert tab.status_code == 307 and tab.headers["location"].endswith("/ml-platform/models/recommendation")
    assert client.get("/ml-platform/models/no_such_model").status_code == 404


def test_in_a_real_browser_after_logging_in(server, images):
    with browser_page() as page:
        page.goto(f"{server}/ml-platform/models")
        assert "Not signed in" in page.content()
        log_in(page, server, USER, PASSWORD)
        page.goto(f"{server}/ml-platform/models")
        assert page.locator("#models tr[data-model]").count() == len(MODELS)
        assert page.locator("text=⚑ amount").is_visible()
        page.screenshot(path=images / "dashboard-models.png", full_page=True)
        page.click("text=fraud_detection >> nth=0")
        page.wait_for_url("**/models/fraud_detection")
        assert page.locator("text=amount drifted").is_visible()
        assert page.locator("#deployments >> text=rolled_back").is_visible()
        page.screenshot(path=images / "dashboard-model.png", full_page=True)
        page.goto(f"{server}/ml-platform/platform")
        assert page.locator("#dags tr").count() == 1 + 5 * len(MODELS)
        assert page.locator("#problems >> text=missed their 120 min deadline").first.is_visible()
        page.screenshot(path=images / "dashboard-platform.png", full_page=True)
        page.goto(f"{server}/plugin/ml-models")  # the Airflow UI's own navigation entry frames the page
        page.wait_for_selector("iframe", timeout=30_000)


def test_the_model_page_draws_the_champions_lineage(server, token, images):
    html = httpx.get(f"{server}/ml-platform/models/fraud_detection", cookies={"_token": token}, timeout=30).text
    assert '<div id="lineage"><svg' in html and "Lineage of v3" in html
    with browser_page() as page:
        log_in(page, server, USER, PASSWORD)
        page.goto(f"{server}/ml-platform/models/fraud_detection")
        graph = page.locator("#lineage svg")
        assert graph.is_visible()
        assert page.locator("#lineage g.node").count() == 3 + 1 + 1 + 1 + 1 + 2 + 1  # partitions … monitoring
        # 3 partitions → snapshot → features, both → MLflow run → v3 → 2 deployments and the checks
        assert page.locator("#lineage line.edge").count() == 3 + 1 + 2 + 1 + 2 + 1
        assert page.locator("#lineage text", has_text="v3").first.is_visible()
        assert page.locator("#lineage text", has_text="→now").count() == 1  # the rollback put v3 back
        assert "the champion: where its data came from" in page.content()
        page.locator("h2", has_text="Lineage of v3").scroll_into_view_if_needed()
        graph.screenshot(path=images / "dashboard-lineage.png")
