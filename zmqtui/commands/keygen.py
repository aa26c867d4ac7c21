"""`zmqtui keygen`: make a CURVE key pair for secured endpoints."""

from __future__ import annotations

import os
from pathlib import Path

import click

from zmqtui.config import user_config_path
from zmqtui.security import write_key_pair


def default_key_dir() -> Path:
    """`keys/` next to the user config file: `~/.config/zmqtui/keys` by default."""
    return user_config_path(os.environ).parent / "keys"


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the key files (created mode 0700).  [default: ~/.config/zmqtui/keys]",
)
@click.option("--name", default="zmqtui", show_default=True, help="File name of the pair.")
@click.option("--force", is_flag=True, help="Replace an existing pair of that name.")
def command(directory: Path | None, name: str, force: bool) -> None:
    """Make a CURVE key pair: NAME.key_secret (mode 0600: keep it private) and NAME.key
    (0644: give it to the peers that should trust you)."""
    directory = (directory or default_key_dir()).expanduser()
    try:
        files = write_key_pair(directory, name, force=force)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write keys in {directory}: {exc.strerror}") from None
    click.echo(f"secret key: {files.secret} (mode 0600, keep it private)")
    click.echo(f"public key: {files.public} ({files.public_key})")
    click.echo(
        f"Use it with: export ZMQTUI_CURVE_SECRET={files.secret}\n"
        "A server admits a client whose .key file is in its ZMQTUI_CURVE_AUTHORIZED directory;\n"
        "a client trusts the server whose .key file ZMQTUI_CURVE_SERVER names."
    )
