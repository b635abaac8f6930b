"""The page, rendered on the server: one function per part, each the HTML the live updates
replace as a whole (an order's card, the health panel, the panel of messages of no order),
so the page and its updates come from the same code. Every value is escaped."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from audit_service.adapters.broker_health import BrokerHealth
from audit_service.domain.model import DeadLetterSighting, Hop, IndexedEvent, Journey


@dataclass(frozen=True)
class Links:
    jaeger_ui_url: str | None = None


def page(
    journeys: Sequence[Journey],
    orphans: Sequence[IndexedEvent],
    letters: Sequence[DeadLetterSighting],
    health: BrokerHealth | None,
    links: Links,
) -> str:
    cards = "\n".join(card(j, links) for j in journeys)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orders, live</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/page.css">
<script src="/static/page.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Orders, live</h1>
  <span id="live" class="live off" role="status">connecting…</span>
</header>
<main>
<section class="try" aria-labelledby="try-title">
  <h2 id="try-title">Place an order</h2>
  <form id="order-form" autocomplete="off">
    <label>Customer <input name="customer_id" required maxlength="128" value="c-web"></label>
    <label>SKU <input name="sku" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]*"
      value="SKU-1"></label>
    <label>Quantity <input name="quantity" type="number" min="1" max="10000" value="1"
      required></label>
    <button type="submit">Place order</button>
  </form>
  <p id="form-result" class="form-result" aria-live="polite"></p>
</section>
{health_panel(health)}
{orphans_panel(orphans, letters)}
<section aria-labelledby="orders-title">
  <h2 id="orders-title">Orders <small>(latest first: placed → reserved or rejected → confirmed
    → notifications)</small></h2>
  <div id="orders">
{cards}
  </div>
  <p class="empty" id="no-orders"{" hidden" if journeys else ""}>No order yet: place one
    above.</p>
</section>
</main>
<footer>API: <a href="/events?limit=20">/events</a> · <a href="/docs">/docs</a> ·
  <a href="/metrics">/metrics</a> · <a href="/health/ready">/health/ready</a></footer>
</body>
</html>
"""


def card(journey: Journey, links: Links) -> str:
    status = escape(journey.status)
    items = ", ".join(
        f"{escape(str(i.get('quantity', '?')))} x {escape(str(i.get('sku', '?')))}"
        for i in journey.items[:5]
    )
    order_id = escape(journey.order_id)
    trace = ""
    if links.jaeger_ui_url and journey.trace_id:
        url = f"{links.jaeger_ui_url.rstrip('/')}/trace/{quote(journey.trace_id)}"
        trace = f' · <a href="{escape(url)}" target="_blank" rel="noopener">trace</a>'
    hops = "\n".join(_hop(h) for h in journey.hops)
    troubled = " troubled" if journey.troubled else ""
    return f"""<article class="order{troubled}" id="order-{order_id}" data-status="{status}">
  <header>
    <span class="status s-{status.lower()}">{status}</span>
    <code title="{order_id}">{order_id[:8]}</code>
    <span class="who">{escape(journey.customer_id or "?")}</span>
    <span class="items">{items}</span>
    <span class="links"><a href="/events?order_id={order_id}">events</a>{trace}</span>
  </header>
  <ol class="hops">
{hops}
  </ol>
</article>"""


def _hop(hop: Hop) -> str:
    classes = f"hop step-{escape(hop.step)}{' bad' if hop.bad else ''}"
    at = f'<time datetime="{hop.at.isoformat()}">{_clock(hop.at)}</time>' if hop.at else ""
    gap = (
        f'<span class="gap">+{_duration(hop.since_previous_ms)}</span>'
        if hop.since_previous_ms is not None
        else ""
    )
    detail = f'<span class="detail">{escape(hop.detail)}</span>' if hop.detail else ""
    event = f' data-event="{escape(hop.event_id)}"' if hop.event_id else ""
    return (
        f'    <li class="{classes}"{event}><span class="label">{escape(hop.label)}</span>'
        f"{gap}{at}{detail}</li>"
    )


def health_panel(health: BrokerHealth | None) -> str:
    if health is None:
        body = '<p class="muted">Reading the broker…</p>'
    else:
        rows = "\n".join(
            f"""    <tr{' class="bad"' if q.dead_letters else ""}>
      <th scope="row">{escape(q.name)}</th><td>{q.messages}</td><td>{q.consumers}</td>
      <td>{q.retrying}</td>
      <td><a href="/dead-letters/{escape(q.name)}">{q.dead_letters}</a></td>
    </tr>"""
            for q in health.queues
        )
        stream = (
            f"{health.stream_messages} messages, {health.stream_consumers} reader(s)"
            if health.stream_messages is not None
            else "its length needs the management API"
        )
        error = f'<p class="bad">{escape(health.error)}</p>' if health.error else ""
        body = f"""<div class="scroll"><table>
    <thead><tr><th scope="col">work queue</th><th scope="col">ready</th>
      <th scope="col">consumers</th><th scope="col">retrying</th>
      <th scope="col">dead letters</th></tr></thead>
    <tbody>
{rows}
    </tbody>
  </table></div>
  <p class="muted">Event log <code>audit.events</code>: {escape(stream)}. Source:
    <span class="source">{escape(health.source)}</span>. Dead letters:
    <a href="/dead-letters">/dead-letters</a> (the admin token, when set).</p>
  {error}"""
    return f"""<section id="health" class="health" aria-labelledby="health-title">
  <h2 id="health-title">Broker</h2>
  {body}
</section>"""


def orphans_panel(orphans: Sequence[IndexedEvent], letters: Sequence[DeadLetterSighting]) -> str:
    if not orphans and not letters:
        return '<section id="orphans" class="orphans" hidden></section>'
    items = [
        f'  <li class="bad"><span class="label">{escape(e.type or "message")} {escape(e.verdict)}'
        f"</span> <code>{escape((e.event_id or '?')[:36])}</code> "
        f'<span class="detail">{escape(e.reason or "")}</span></li>'
        for e in orphans
    ] + [
        f'  <li class="bad"><span class="label">dead letter in {escape(d.queue)}</span> '
        f"<code>{escape(d.message_id[:36])}</code> "
        f'<span class="detail">{escape(d.reason or "")}</span></li>'
        for d in letters
    ]
    joined = "\n".join(items)
    return f"""<section id="orphans" class="orphans" aria-labelledby="orphans-title">
  <h2 id="orphans-title">Messages of no order</h2>
  <ul>
{joined}
  </ul>
</section>"""


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def event_json(event: IndexedEvent, *, redact: bool = False) -> dict[str, Any]:
    """An indexed event as the API gives it (`redact`: without the customer's e-mail)."""
    data = event.data
    if redact and isinstance(data, dict) and "email" in data:
        data = {k: v for k, v in data.items() if k != "email"}
    return {
        "offset": event.offset,
        "verdict": event.verdict,
        "id": event.event_id,
        "type": event.type,
        "source": event.source,
        "time": event.time.isoformat() if event.time else None,
        "dataversion": event.data_version,
        "order_id": event.order_id,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "trace_id": event.trace_id,
        "producer": event.producer,
        "reason": event.reason,
        "duplicate": event.duplicate,
        "data": data,
    }
