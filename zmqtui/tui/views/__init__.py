"""Full-screen views opened by a key over the panes (`base.View`): topics, conversations,
socket events."""
