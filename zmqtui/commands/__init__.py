"""One module per `zmqtui` subcommand; each exposes `command`, a click command."""
