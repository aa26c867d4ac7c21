"""The request composer pane (`pane`) and its private helpers: how replies and summaries are
shown (`render`) and path completion for the book's file request (`paths`)."""

from zmqtui.tui.panes.composer.pane import ComposerPane, ResponseLog

__all__ = ["ComposerPane", "ResponseLog"]
