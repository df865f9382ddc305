"""One board over several servers: a client with the TaskboardClient interface that fans out to a
client per context and merges what they say.

A task's id on the merged board is `context/id`, so two servers' ids never collide and every call
about a task goes to the server it came from. A server that cannot be reached is left out of the
listing (and named in `unreachable`) instead of taking the whole board down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Self

from taskboard.client.base import Capability, Capable, PatternForm, TaskSource
from taskboard.client.errors import NotFound, TaskboardError, Unsupported
from taskboard.client.streams import StreamStatus
from taskboard.models import (
    Accepted,
    CleanupResult,
    Event,
    PermissionRequest,
    PermissionRule,
    Provenance,
    Success,
    SummaryPage,
    Task,
    TaskOutput,
    TaskPage,
)

SEP = "/"


class MultiClient(Capable):
    dialect = "multi"
    api_name = "board over several servers"

    def __init__(self, clients: Mapping[str, TaskSource], *, read_only: frozenset[str] = frozenset()) -> None:
        if not clients:
            raise ValueError("a multi-server board needs at least one server")
        self.clients = dict(clients)
        self.read_only = read_only  # contexts that are watched only
        self.unreachable: dict[str, str] = {}
        self._revisions: dict[str, int | None] = {}  # each server's revision at its last listing

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    def __repr__(self) -> str:
        return f"MultiClient({list(self.clients)})"

    @property
    def poll_interval(self) -> float:
        return min(client.poll_interval for client in self.clients.values())

    # ------------------------------------------------------------------ ids and capabilities

    def split(self, task_id: str) -> tuple[str, TaskSource, str]:
        name, sep, inner = task_id.partition(SEP)
        if not sep or name not in self.clients:
            raise NotFound(f"No server named {name!r} on this board", status=404)
        return name, self.clients[name], inner

    @staticmethod
    def server_of(task_id: str) -> str:
        return task_id.partition(SEP)[0]

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(c for c in Capability if any(client.can(c) for client in self.clients.values())) \
            - {Capability.CREATE}

    def why_not(self, capability: Capability, task_id: str | None = None) -> str | None:
        if capability is Capability.CREATE:
            return ("This board shows several servers; open one (taskboard --context NAME) to create "
                    "tasks on it.")
        if task_id is not None and SEP in task_id:
            name, client, _ = self.split(task_id)
            if name in self.read_only and capability not in WATCHING:
                return f"{name} is a read-only context: nothing can be changed on it from here."
            reason = client.why_not(capability)
            return f"{name}: {reason}" if reason else None
        return super().why_not(capability)

    @property
    def degraded(self) -> dict[str, str]:
        return {f"{name}: {what}": f"{name}: {reason}" for name, client in self.clients.items()
                for what, reason in client.degraded.items()}

    def patterns_for(self, task_id: str | None = None) -> PatternForm:
        if task_id is None:
            return self.patterns
        _, client, _ = self.split(task_id)
        return client.patterns_for()

    def _tag(self, name: str, task: Task) -> Task:
        return task.model_copy(update={"id": f"{name}{SEP}{task.id}",
                                       "parent_id": f"{name}{SEP}{task.parent_id}" if task.parent_id else None})

    def _tag_request(self, name: str, request: PermissionRequest) -> PermissionRequest:
        return request.model_copy(update={"task_id": f"{name}{SEP}{request.task_id}"})

    # ------------------------------------------------------------------ the board

    async def _everything(self, name: str, client: Any, **filters: Any) -> list[Task]:
        tasks: list[Task] = []
        async for page in client.iter_task_pages(**filters):
            if not tasks:
                self._revisions[name] = page.revision  # the watch starts there: nothing in between is missed
            tasks.extend(page.items)
        return [self._tag(name, t) for t in tasks]

    async def list_tasks(self, *, limit: int | None = None, offset: int = 0, **filters: Any) -> TaskPage:
        """Every server's tasks on the first page (the servers page themselves); later pages are empty."""
        if offset:
            return TaskPage(items=[], total=offset, offset=offset)
        names = list(self.clients)
        results = await asyncio.gather(*(self._everything(n, self.clients[n], **filters) for n in names),
                                       return_exceptions=True)
        items: list[Task] = []
        errors: list[BaseException] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, TaskboardError):
                    raise result
                self.unreachable[name] = str(result)
                errors.append(result)
            else:
                self.unreachable.pop(name, None)
                items.extend(result)
        if len(errors) == len(names):
            raise errors[0]
        return TaskPage(items=items, total=len(items), limit=limit, offset=0)

    async def list_summaries(self, *, limit: int, offset: int = 0, sort: str | None = None,
                             before_parse: Callable[[], Awaitable[None]] | None = None) -> SummaryPage:
        return SummaryPage.of(await self.list_tasks(limit=limit, offset=offset, sort=sort, summary=True))

    async def iter_task_pages(self, *, page_size: int = 1000, **filters: Any) -> AsyncGenerator[TaskPage, None]:
        yield await self.list_tasks(**filters)

    async def list_permissions(self, status: str | None = "pending", task_id: str | None = None,
                               limit: int | None = None) -> list[PermissionRequest]:
        if task_id is not None:
            name, client, inner = self.split(task_id)
            return [self._tag_request(name, r) for r in await client.list_permissions(status, inner, limit)]
        found: list[PermissionRequest] = []
        for name, client in self.clients.items():
            with contextlib.suppress(TaskboardError):
                found.extend(self._tag_request(name, r) for r in await client.list_permissions(status, None, limit))
        return found

    async def list_rules(self) -> list[PermissionRule]:
        """Every server's saved rules, each id as `server/id`; a server that keeps none is left out."""
        found: list[PermissionRule] = []
        for name, client in self.clients.items():
            if client.can(Capability.RULES):
                found.extend(r.model_copy(update={"id": f"{name}{SEP}{r.id}"}) for r in await client.list_rules())
        return found

    async def delete_rule(self, rule_id: str) -> Success:
        name, client, inner = self.split(rule_id)
        if name in self.read_only:
            raise Unsupported(f"{name} is a read-only context: nothing can be changed on it from here.",
                              capability=Capability.RULES.value, dialect=self.dialect)
        return await client.delete_rule(inner)

    async def list_projects(self) -> list[Any]:
        return []

    async def runtimes(self) -> list[Any]:
        return []

    async def watch(self, since: int | None = None, *, reconnect: bool = True,
                    on_status: Callable[[StreamStatus], Any] | None = None) -> AsyncGenerator[Event, None]:
        """Every server's changes, merged, renumbered in the order they arrive. A stream that ends
        with an error is reported as a `reset` for the board to list again."""
        queue: asyncio.Queue[tuple[str, Event | None]] = asyncio.Queue(maxsize=10_000)

        async def pump(name: str, client: Any) -> None:
            try:
                async with contextlib.aclosing(client.watch(self._revisions.get(name), reconnect=reconnect,
                                                            on_status=on_status)) as events:
                    async for event in events:
                        await queue.put((name, event))
            except TaskboardError as exc:
                self.unreachable[name] = str(exc)
                await queue.put((name, None))

        pumps = [asyncio.create_task(pump(n, c)) for n, c in self.clients.items()]
        revision = 0
        try:
            while True:
                name, event = await queue.get()
                revision += 1
                if event is None:
                    continue  # that server's stream is over; the others carry on
                update: dict[str, Any] = {"revision": revision}
                if event.type == "reset":
                    yield event.model_copy(update=update)
                    continue
                if event.task_id:
                    update["task_id"] = f"{name}{SEP}{event.task_id}"
                if event.task is not None:
                    update["task"] = self._tag(name, event.task)
                if event.permission is not None:
                    update["permission"] = self._tag_request(name, event.permission)
                yield event.model_copy(update=update)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    # ------------------------------------------------------------------ one task: to its server

    async def get_task(self, task_id: str) -> Any:
        name, client, inner = self.split(task_id)
        return self._tag(name, await client.get_task(inner))

    async def provenance(self, task_id: str) -> Provenance | None:
        _, client, inner = self.split(task_id)
        found = await client.provenance(inner)
        return found.model_copy(update={"task_id": task_id}) if found is not None else None

    async def siblings(self, task_id: str) -> list[Any]:
        name, client, inner = self.split(task_id)
        return [s.model_copy(update={"id": f"{name}{SEP}{s.id}"}) for s in await client.siblings(inner)]

    async def list_messages(self, task_id: str) -> list[Any]:
        _, client, inner = self.split(task_id)
        return list(await client.list_messages(inner))

    async def stream_log_batches(self, task_id: str, **options: Any) -> AsyncGenerator[Any, None]:
        _, client, inner = self.split(task_id)
        async with contextlib.aclosing(client.stream_log_batches(inner, **options)) as batches:
            async for batch in batches:
                yield batch

    async def respond(self, task_id: str, notification_id: str, behavior: Any, **options: Any) -> Any:
        _, client, inner = self.split(task_id)
        return await client.respond(inner, notification_id, behavior, **options)

    async def send_message(self, task_id: str, message: str) -> Any:
        name, client, inner = self.split(task_id)
        return self._tag(name, await client.send_message(inner, message))

    async def update_task(self, task_id: str, body: Any = None, **fields: Any) -> Any:
        name, client, inner = self.split(task_id)
        return self._tag(name, await client.update_task(inner, body, **fields))

    async def cleanup(self, older_than_hours: float | None = None) -> CleanupResult:
        """Each server that can clean up and is not read-only does."""
        deleted = 0
        task_ids: list[str] = []
        for name, client in self.clients.items():
            if name in self.read_only or not client.can(Capability.CLEANUP):
                continue
            result = await client.cleanup(older_than_hours)
            deleted += result.deleted
            task_ids.extend(f"{name}{SEP}{t}" for t in result.task_ids)
        return CleanupResult(deleted=deleted, task_ids=task_ids)

    async def create_task(self, body: Any = None, **fields: Any) -> Task:
        raise Unsupported(self.why_not(Capability.CREATE) or "", capability="create", dialect=self.dialect)

    spawn = create_task

    # ------------------------------------------------------------------ calls about one task: its server

    async def cancel(self, task_id: str) -> Success:
        _, client, inner = self.split(task_id)
        return await client.cancel(inner)

    async def delete_task(self, task_id: str) -> Success:
        _, client, inner = self.split(task_id)
        return await client.delete_task(inner)

    async def resume(self, task_id: str) -> Accepted:
        _, client, inner = self.split(task_id)
        return await client.resume(inner)

    async def queue(self, task_id: str) -> Task:
        name, client, inner = self.split(task_id)
        return self._tag(name, await client.queue(inner))

    async def execute(self, task_id: str) -> Accepted:
        _, client, inner = self.split(task_id)
        return await client.execute(inner)

    async def get_output(self, task_id: str) -> TaskOutput:
        _, client, inner = self.split(task_id)
        output = await client.get_output(inner)
        return output.model_copy(update={"task_id": task_id})


# What a read-only context still allows.
WATCHING = frozenset({Capability.LIST, Capability.LOG_STREAM, Capability.PROGRESS_STREAM, Capability.OUTPUT,
                      Capability.EVENTS, Capability.USAGE})
