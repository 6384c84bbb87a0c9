"""Finding datasets through a business: its owned and client pixels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from dqwatch.errors import GraphError
from dqwatch.graph import GraphClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Discovered:
    """A dataset a business gave us access to."""

    id: str
    name: str
    owner: str
    sources: tuple[str, ...]
    business_id: str


@dataclass(frozen=True, slots=True)
class DiscoverEntry:
    """What to list: a business, the edges to read, and how to file what is found."""

    business_id: str
    owner: str
    sources: tuple[str, ...]
    edges: tuple[str, ...] = ("owned_pixels", "client_pixels")


async def discover(
    client: GraphClient, entries: Sequence[DiscoverEntry]
) -> tuple[list[Discovered], list[GraphError]]:
    """List every pixel of every entry's edges; failures are returned, not raised.

    A dataset reachable through several edges or businesses is listed once,
    filed under the first entry that found it.
    """
    found: dict[str, Discovered] = {}
    failures: list[GraphError] = []
    for entry in entries:
        for edge in entry.edges:
            try:
                async for item in client.paged(
                    f"{entry.business_id}/{edge}", {"fields": "id,name", "limit": "100"}
                ):
                    dataset_id = str(item.get("id") or "")
                    if dataset_id.isdigit() and dataset_id not in found:
                        found[dataset_id] = Discovered(
                            dataset_id,
                            str(item.get("name") or dataset_id),
                            entry.owner,
                            entry.sources,
                            entry.business_id,
                        )
            except GraphError as exc:
                log.error(
                    "discovery of business %s (%s) failed: %s",
                    entry.business_id,
                    edge,
                    exc,
                )
                failures.append(exc)
    return list(found.values()), failures
