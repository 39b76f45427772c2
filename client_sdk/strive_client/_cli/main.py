"""Entry point of the ``strive`` command.

Commands that need only the base install (schema, validator, SDK) are registered here
directly. The reference server's commands (``serve``, ``admin``) are contributed through the
``strive.cli`` entry-point group, so that this package never imports the server: with only
the base install they are simply absent, and ``strive serve`` explains how to get them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from strive_client._cli.envelope import sign_command, verify_command
from strive_client._cli.export import export_group
from strive_client._cli.keys import keys_group
from strive_client._cli.submit import submit_command
from strive_client._cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strive", prog_name="strive")
def cli() -> None:
    """Strive: validated, signed exploitation referrals between ASWs and law enforcement."""


cli.add_command(validate_command)
cli.add_command(keys_group)
cli.add_command(sign_command)
cli.add_command(verify_command)
cli.add_command(submit_command)
cli.add_command(export_group)


def _load_plugins() -> None:
    for entry in entry_points(group="strive.cli"):
        try:
            command = entry.load()
        except ImportError as exc:  # the [server] extra is not installed
            missing = exc.name or "a server dependency"
            cli.add_command(_unavailable(entry.name, missing))
            continue
        cli.add_command(command, name=entry.name)


def _unavailable(name: str, missing: str) -> click.Command:
    def explain() -> None:
        raise click.UsageError(
            f"'strive {name}' needs the reference server's dependencies ({missing} is missing); "
            "install them with: pip install 'strive[server]'"
        )

    return click.Command(name, callback=explain, help="(needs the [server] extra)")


def main() -> None:
    """Run the ``strive`` command."""
    _load_plugins()
    cli(prog_name="strive")
