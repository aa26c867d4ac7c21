"""Full-screen views opened by a key over the panes: conversations, socket events."""
