"""Entry point of the ``strive`` command.

Commands that need only the base install (schema, validator, SDK) are registered here
directly. The reference server's commands (``serve``, ``admin``) are contributed through the
``strive.cli`` entry-point group, so that this package never imports the server: with only
the base install they are simply absent, and ``strive serve`` explains how to get them.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

from strive_client._cli.conformance import conformance_group
from strive_client._cli.disseminate import disseminate_group, package_group
from strive_client._cli.envelope import sign_command, verify_command
from strive_client._cli.export import export_group
from strive_client._cli.keys import keys_group
from strive_client._cli.log import log_group
from strive_client._cli.submit import submit_command
from strive_client._cli.validate import validate_command


class _StriveGroup(click.Group):
    """Finds the server's commands in the ``strive.cli`` entry points, importing one only
    when it is invoked: ``strive validate`` does not load a web framework."""

    def _plugins(self) -> dict[str, EntryPoint]:
        return {entry.name: entry for entry in entry_points(group="strive.cli")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._plugins().get(cmd_name)
        if entry is None:
            return None
        try:
            loaded = entry.load()
        except ImportError as exc:  # the [server] extra is not installed
            return _unavailable(cmd_name, exc.name or "a server dependency")
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=_StriveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strive", prog_name="strive")
def cli() -> None:
    """Strive: validated, signed exploitation referrals between ASWs and law enforcement."""


cli.add_command(validate_command)
cli.add_command(keys_group)
cli.add_command(sign_command)
cli.add_command(verify_command)
cli.add_command(submit_command)
cli.add_command(export_group)
cli.add_command(disseminate_group)
cli.add_command(package_group)
cli.add_command(conformance_group)
cli.add_command(log_group)


def _unavailable(name: str, missing: str) -> click.Command:
    def explain() -> None:
        raise click.UsageError(
            f"'strive {name}' needs the reference server's dependencies ({missing} is missing); "
            "install them with: pip install 'strive[server]'"
        )

    return click.Command(name, callback=explain, help="(needs the [server] extra)")


def main() -> None:
    """Run the ``strive`` command."""
    cli(prog_name="strive")
