"""Commands that run or feed the live pipeline: worker, sink, deliverer, API, emitter, the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from approval_monitor.cli_common import (
    app,
    bootstrap,
    check_sections,
    err,
    load_rules,
    section,
)
from approval_monitor.settings import (
    ApiSettings,
    CoreSettings,
    KafkaSettings,
    PipelineSettings,
    ProcessSettings,
    StoreSettings,
    WebhookSettings,
)


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Run a Faust worker: judge events from Kafka and raise records live."""
    from approval_monitor.processes import run_worker

    check_sections(CoreSettings, KafkaSettings, PipelineSettings, ProcessSettings)
    load_rules(CoreSettings().rules)
    run_worker(bootstrap(), loglevel)


@app.command()
def sink(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Index records and case documents from Kafka into the store (APPROVAL_MONITOR_STORE_URL)."""
    from approval_monitor.processes import run_sink

    check_sections(CoreSettings, KafkaSettings, PipelineSettings, StoreSettings, ProcessSettings)
    load_rules(CoreSettings().rules)
    run_sink(bootstrap(), loglevel)


@app.command()
def webhooks(loglevel: Annotated[str, typer.Option(help="Faust log level.")] = "warning") -> None:
    """Deliver records to webhook subscribers: signed, retried with backoff, dead-lettered, logged."""
    from approval_monitor.processes import run_webhooks

    check_sections(KafkaSettings, WebhookSettings, ProcessSettings)
    if not section(WebhookSettings).webhook_secret_key:
        err.print(
            "[red]error:[/red] APPROVAL_MONITOR_WEBHOOK_SECRET_KEY is not set: the deliverer needs the key the API "
            "seals subscription secrets with; make one with `approval-monitor keys webhook-key` and give it to both"
        )
        raise typer.Exit(2)
    run_webhooks(bootstrap(), loglevel)


@app.command()
def api() -> None:
    """Serve the supervisors' API on the configured store (APPROVAL_MONITOR_API_HOST/PORT)."""
    from approval_monitor.processes import serve_api

    check_sections(KafkaSettings, StoreSettings, ProcessSettings, PipelineSettings)
    if not section(ApiSettings).api_keys:
        err.print("[yellow]warning:[/yellow] no APPROVAL_MONITOR_API_KEYS: every /v1 request will be refused (401)")
    serve_api()


@app.command()
def emit(
    file: Annotated[Path, typer.Option("--file", help="Events .jsonl to send, one JSON object per line.")],
    rejects: Annotated[Path | None, typer.Option(help="Where to keep lines refused before sending.")] = None,
    sender: Annotated[str | None, typer.Option(help="This producer's name, carried by every event.")] = None,
    scope: Annotated[
        str | None, typer.Option(help="Agency subtree this producer may write; the worker refuses events outside it.")
    ] = None,
) -> None:
    """Send events to the events topic as an agency system would: validated, keyed by case, acknowledged."""
    import orjson
    from kafka.errors import KafkaError

    from approval_monitor.replay_job import BOM
    from rules.events import raw_fields
    from streams.emitter import Emitter

    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    try:
        lines = file.read_bytes().removeprefix(BOM).splitlines()  # a UTF-8 byte-order mark is not an event
    except OSError as e:
        err.print(f"[red]error:[/red] --file {file}: {e.strerror}")
        raise typer.Exit(2) from None
    objs: list[object] = []
    where: list[int] = []  # line index of each object sent
    bad: list[dict[str, object]] = []
    for i, line in enumerate(lines):
        try:
            objs.append(orjson.loads(line))
            where.append(i)
        except orjson.JSONDecodeError as e:
            bad.append({"line": i + 1, "event_id": None, "code": "bad_json", "reason": f"not valid JSON: {e}"})
    events_topic = section(KafkaSettings).events_topic
    where_kafka = bootstrap()
    try:
        emitter = Emitter(where_kafka, events_topic, sender=sender, scope=scope, connect_timeout=5.0)
    except KafkaError as e:
        err.print(f"[red]error:[/red] no Kafka broker answers at {where_kafka} ({type(e).__name__}); start one "
                  "(`approval-monitor run` starts the embedded broker) or set KAFKA_BOOTSTRAP_SERVERS")  # fmt: skip
        raise typer.Exit(2) from None
    with emitter:
        results = emitter.send_many(objs)
    bad += [
        {"line": where[r.index] + 1, "event_id": r.event_id, "code": r.code, "reason": r.error}
        for r in results
        if not r.ok
    ]
    bad.sort(key=lambda b: b["line"])  # type: ignore[arg-type,return-value]
    with open(rejects, "wb") as f:
        for b in bad:
            b.update(raw_fields(lines[int(b["line"]) - 1]))  # type: ignore[call-overload]
            f.write(orjson.dumps(b) + b"\n")
    failed = sum(1 for b in bad if b["code"] == "send_failed")
    err.print(
        f"sent {len(lines) - len(bad)} events to {events_topic}; {len(bad) - failed} refused, "
        f"{failed} not acknowledged" + (f" (reasons in {rejects})" if bad else "")
    )
    if failed:
        raise typer.Exit(1)


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    per_minute: Annotated[float, typer.Option(help="Demo cases submitted per minute.", min=1)] = 20,
    workdir: Annotated[Path, typer.Option(help="Where the broker's and worker's logs go.")] = Path("var/run"),
) -> None:
    """The main job: broker (embedded unless KAFKA_BOOTSTRAP_SERVERS), worker, a live demo feed, alerts as raised."""
    from approval_monitor.demo import run_demo

    check_sections(
        CoreSettings, KafkaSettings, PipelineSettings, StoreSettings, ApiSettings, WebhookSettings, ProcessSettings
    )
    run_demo(workdir, duration, per_minute)
