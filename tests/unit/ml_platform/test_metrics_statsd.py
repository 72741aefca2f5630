"""The StatsD bridge: Airflow's own StatsD client (influx tags) in, Prometheus text out, over real UDP."""

import datetime as dt
import logging
import socket
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from statsd import StatsClient

from ml_platform.layout import free_udp_port
from ml_platform.metrics.exporter import airflow_statsd_env
from ml_platform.metrics.statsd_bridge import (
    StatsdCollector,
    StatsdLineError,
    StatsdListener,
    parse_line,
    prometheus_name,
)


def samples(collector: StatsdCollector) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_influx_tagged_lines_parse_into_name_tags_value_and_kind():
    line = parse_line("airflow.dagrun.duration.success,dag_id=training_fraud,run_type=manual:1843.5|ms")
    assert (line.name, line.tags, line.value, line.kind) == (
        "airflow.dagrun.duration.success", {"dag_id": "training_fraud", "run_type": "manual"}, 1843.5, "histogram")
    assert parse_line("airflow.ti.finish,dag_id=d,task_id=t,state=failed:1|c").kind == "counter"
    sampled = parse_line("airflow.scheduler_heartbeat:1|c|@0.5")
    assert (sampled.rate, sampled.tags) == (0.5, {})
    assert parse_line("airflow.pool.open_slots,pool_name=training:-2|g").delta
    assert parse_line("airflow.executor.running_tasks:3|g|#team:ml").tags == {"team": "ml"}  # DogStatsD tags too
    assert prometheus_name("airflow.dag_processing.last-run") == "airflow_dag_processing_last_run"


@pytest.mark.parametrize("line, says", [("airflow.x", "name:value|type"), ("airflow.x:1", "name:value|type"),
                                        ("airflow.x:1|s", "unsupported StatsD type 's'"),
                                        ("airflow.x:abc|c", "'abc' is not a number")])
def test_a_malformed_line_is_refused_with_what_is_wrong(line, says):
    with pytest.raises(StatsdLineError, match=says.replace("|", r"\|")):
        parse_line(line)


def test_counters_gauges_and_timers_become_prometheus_series_in_seconds():
    collector = StatsdCollector()
    collector.receive("airflow.ti.finish,dag_id=d,task_id=t,state=success:1|c\n"
                      "airflow.ti.finish,dag_id=d,task_id=t,state=success:1|c|@0.5\n"
                      "airflow.pool.open_slots,pool_name=training:4|g\nairflow.pool.open_slots,pool_name=training:-1|g\n"
                      "airflow.dagrun.duration.success,dag_id=d:1500|ms\nairflow.dagrun.duration.success,dag_id=d:40|ms\n"
                      "garbage\nairflow.x:1|c|@often\n")
    got = samples(collector)
    task = (("dag_id", "d"), ("state", "success"), ("task_id", "t"))
    assert got[("airflow_ti_finish_total", task)] == 3.0  # 1 + 1 sampled at 1/2
    assert got[("airflow_pool_open_slots", (("pool_name", "training"),))] == 3.0  # 4, then a delta of -1
    assert got[("airflow_dagrun_duration_success_seconds_count", (("dag_id", "d"),))] == 2
    assert got[("airflow_dagrun_duration_success_seconds_sum", (("dag_id", "d"),))] == pytest.approx(1.54)
    assert got[("airflow_dagrun_duration_success_seconds_bucket", (("dag_id", "d"), ("le", "0.05")))] == 1
    assert got[("airflow_dagrun_duration_success_seconds_bucket", (("dag_id", "d"), ("le", "2.5")))] == 2
    assert got[("ml_statsd_lines_total", (("outcome", "invalid"),))] == 2


def test_series_beyond_the_bound_and_type_clashes_are_dropped_and_counted():
    collector = StatsdCollector(max_series=2)
    collector.receive("a.b,k=1:1|c\na.b,k=2:1|c\na.b,k=3:1|c\na.b,k=1:1|g\na.b,k=1:1|c")
    got = samples(collector)
    assert got[("a_b_total", (("k", "1"),))] == 2.0
    assert ("a_b_total", (("k", "3"),)) not in got
    assert got[("ml_statsd_lines_total", (("outcome", "dropped"),))] == 2


def test_airflows_statsd_logger_reaches_the_listener_over_udp():
    """Airflow's own logger (influx tags on, as the platform configures it) sends; the bridge exposes."""
    from airflow._shared.observability.metrics.statsd_logger import get_statsd_logger

    port = free_udp_port()
    collector = StatsdCollector()
    StatsdListener(collector, "127.0.0.1", port).start()
    stats = get_statsd_logger(stats_class=StatsClient, host="127.0.0.1", port=port, prefix="airflow",
                              influxdb_tags_enabled=True, statsd_influxdb_enabled=True,
                              statsd_disabled_tags="job_id,run_id")
    stats.timing("dagrun.duration.success", dt.timedelta(seconds=12.5),
                 tags={"dag_id": "training_fraud", "run_type": "scheduled", "run_id": "manual__1"})
    stats.incr("scheduler_heartbeat")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and collector.lines["parsed"] < 2:
        time.sleep(0.05)
    got = samples(collector)
    labels = (("dag_id", "training_fraud"), ("run_type", "scheduled"))  # run_id: a disabled tag, never a label
    assert got[("airflow_dagrun_duration_success_seconds_sum", labels)] == pytest.approx(12.5)
    assert got[("airflow_scheduler_heartbeat_total", ())] == 1.0


@pytest.fixture
def statsd_errors():
    """The error lines of Airflow's StatsD logger (its logging setup may not reach pytest's capture)."""
    import airflow.models.callback  # noqa: F401 - Airflow configures its logging once imported: then listen
    errors: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: errors.append(record.getMessage())
    logger = logging.getLogger("airflow._shared.observability.metrics.statsd_logger")
    logger.addHandler(handler)
    yield errors
    logger.removeHandler(handler)


def test_a_missed_deadlines_metrics_carry_the_dag_not_the_run_nor_the_notifiers_arguments(monkeypatch, statsd_errors):
    """The platform's [metrics] settings, Airflow's configured logger, and the metrics of a missed deadline as the
    scheduler and the triggerer send them (our deadline alerts' real callbacks): no label per run or per message,
    and no error line per tag Airflow cannot send."""
    from airflow.models.callback import Callback, CallbackState
    from airflow.models.deadline import CALLBACK_METRICS_PREFIX
    from airflow.observability.metrics.statsd_logger import get_statsd_logger

    from ml_pipeline_airflow.notifications.alerts import deadline_alerts

    port = free_udp_port()
    collector = StatsdCollector()
    StatsdListener(collector, "127.0.0.1", port).start()
    for name, value in airflow_statsd_env(port).items():
        monkeypatch.setenv(name, value)
    stats = get_statsd_logger()
    dag_id = "ml_training_fraud_detection"
    stats.incr("deadline_alerts.deadline_missed", tags={"dag_id": dag_id, "dagrun_id": "manual__2026-12-06"})
    alerts = deadline_alerts("fraud_detection", 0.1, "slack_alerts", "smtp_default", ["ml-alerts@localhost"])
    for alert in alerts:  # the notifiers' kwargs hold commas and '=' (the message, the e-mail's HTML)
        callback = Callback.create_from_sdk_def(callback_def=alert.callback, prefix=CALLBACK_METRICS_PREFIX,
                                                dag_id=dag_id)
        stats.incr(**callback.get_metric_info(CallbackState.SUCCESS, "sent"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and collector.lines["parsed"] < 3:
        time.sleep(0.05)
    got = {(name, dict(labels).get("path")): value for (name, labels), value in samples(collector).items()
           if name.startswith("airflow_deadline")}
    assert got == {("airflow_deadline_alerts_deadline_missed_total", None): 1.0,
                   **{("airflow_deadline_alerts_callback_success_total", alert.callback.path): 1.0
                      for alert in alerts}}
    labels = {label for (name, labels) in samples(collector) if name.startswith("airflow_deadline")
              for label, _ in labels}
    assert labels == {"dag_id", "path"}  # not the run's id, the notifier's arguments or its answer
    assert statsd_errors == []


def test_a_taken_port_fails_at_start():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            StatsdListener(StatsdCollector(), "127.0.0.1", taken.getsockname()[1])
