"""``strive export cluster CLUSTER_ID --format json|csv|graphml|md --url URL --token TOKEN``.

Fetches an intelligence package for an analyst. ``--out`` names the file (default: the name the
receiver suggests, in the current folder; ``-`` writes to standard output). The token can also
come from ``STRIVE_TOKEN``, which keeps it out of shell history.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import httpx

_FILENAME = re.compile(r'filename="([A-Za-z0-9._-]+)"')


@click.group("export")
def export_group() -> None:
    """Export intelligence packages (analysts)."""


@export_group.command("cluster")
@click.argument("cluster_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "graphml", "md"]), default="json",
    show_default=True, help="csv is a zip of i2 entity and link tables.",
)  # fmt: skip
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option("--token", envvar="STRIVE_TOKEN", required=True, help="Analyst bearer token.")
@click.option("--out", "out", type=click.Path(dir_okay=False, allow_dash=True), default=None)
@click.option("--reason", default=None, help="Why you export it; kept in the audit trail.")
def export_cluster(
    cluster_id: int, fmt: str, url: str, token: str, out: str | None, reason: str | None
) -> None:
    """Export a cluster as an intelligence package."""
    headers = {"Authorization": f"Bearer {token}"}
    if reason:
        headers["Strive-Reason"] = reason
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/v1/clusters/{cluster_id}/export",
            params={"format": fmt},
            headers=headers,
            timeout=60,
        )
    except httpx.TransportError as exc:
        raise click.ClickException(f"could not reach the receiver: {type(exc).__name__}") from None
    if response.status_code != 200:
        click.echo(response.text, err=True)
        raise SystemExit(1)
    marking = response.headers.get("strive-protective-marking", "unmarked")
    if out == "-":
        sys.stdout.buffer.write(response.content)
        return
    match = _FILENAME.search(response.headers.get("content-disposition", ""))
    path = Path(out or (match.group(1) if match else f"cluster-{cluster_id}.{fmt}"))
    path.write_bytes(response.content)
    click.echo(f"wrote {path} ({marking}: handle accordingly)", err=True)
