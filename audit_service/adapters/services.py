"""The other services, over their HTTP APIs: what the stream cannot say (an order's status,
its notifications, dead letters), and the order form's way in."""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from audit_service.domain.model import DeadLetterSighting, Observation

ORDERS_PAGE = 1000  # GET /orders?limit=: its largest


class ServiceUnavailable(ConnectionError):
    pass


class Services:
    def __init__(
        self,
        *,
        order_url: str,
        notification_url: str,
        urls: Mapping[str, str],
        admin_token: SecretStr | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._order_url = order_url.rstrip("/")
        self._notification_url = notification_url.rstrip("/")
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        headers = {}
        if admin_token is not None:
            headers["Authorization"] = f"Bearer {admin_token.get_secret_value()}"
        self._admin = httpx.AsyncClient(timeout=timeout, headers=headers, transport=transport)
        self._public = httpx.AsyncClient(timeout=timeout, transport=transport)

    def url_of(self, service: str) -> str | None:
        return self._urls.get(service)

    async def close(self) -> None:
        await self._admin.aclose()
        await self._public.aclose()

    async def place_order(
        self, body: bytes, idempotency_key: str | None
    ) -> tuple[int, bytes, str | None]:
        """POST /orders as the browser sent it: (status, body, content type)."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self._public.post(
                f"{self._order_url}/orders", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the order service did not answer: {exc!r}") from exc
        return response.status_code, response.content, response.headers.get("content-type")

    async def statuses(self, order_ids: Iterable[str]) -> list[Observation]:
        """The final status of each of these orders that has one (CONFIRMED, REJECTED)."""
        wanted = set(order_ids)
        if not wanted:
            return []
        try:
            # Newest first, and the orders followed are recent: a page a little larger than
            # their number holds them unless many were placed since.
            limit = min(ORDERS_PAGE, 2 * len(wanted) + 100)
            found = await self._get(self._admin, f"{self._order_url}/orders?limit={limit}")
        except ServiceUnavailable:  # no admin token for it, say: one by one below
            found = []
        missing = wanted - {o.get("id") for o in found}
        # Older than the newest page: one by one (an order id reads its own order).
        for order_id in sorted(missing)[:20]:
            try:
                found.append(await self._get(self._public, f"{self._order_url}/orders/{order_id}"))
            except ServiceUnavailable:
                continue
        return [
            Observation(o["id"], "status", o["status"], o["status"], _time(o.get("updated_at")))
            for o in found
            if o.get("id") in wanted and o.get("status") in ("CONFIRMED", "REJECTED")
        ]

    async def notifications(self, order_ids: Iterable[str]) -> list[Observation]:
        wanted = set(order_ids)
        if not wanted:
            return []
        limit = min(ORDERS_PAGE, 4 * len(wanted) + 100)  # two or so an order, newest first
        found = await self._get(
            self._public, f"{self._notification_url}/notifications?limit={limit}"
        )
        return [
            Observation(
                n["order_id"], "notification", n["kind"], n["status"], _time(n["created_at"])
            )
            for n in found
            if n.get("order_id") in wanted
        ]

    async def dead_letters(self, queue: str) -> list[DeadLetterSighting]:
        """The dead letters of work queue `queue`, from the service that consumes it."""
        owner = self._urls.get(queue.split(".", 1)[0])
        if owner is None:
            raise ServiceUnavailable(f"no service known for {queue}")
        found = await self._get(self._admin, f"{owner}/admin/dead-letters/{queue}?limit=100")
        now = datetime.now(UTC)
        return [
            DeadLetterSighting(
                queue=queue,
                message_id=str(letter.get("message_id") or ""),
                order_id=None,
                event_type=letter.get("type"),
                reason=letter.get("reason"),
                attempts=letter.get("attempts"),
                seen_at=_time(letter.get("last_failure_at"))
                if letter.get("last_failure_at")
                else now,
                present=True,
            )
            for letter in found
            if letter.get("message_id")
        ]

    async def _get(self, client: httpx.AsyncClient, url: str) -> Any:
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"GET {url}: {exc!r}") from exc


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
