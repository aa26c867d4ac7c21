"""The workers pane (`pane`) and its private helper: rates derived from the snapshots (`rates`)."""

from zmqtui.tui.panes.workers.pane import WorkersPane

__all__ = ["WorkersPane"]
