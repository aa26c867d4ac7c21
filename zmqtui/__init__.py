"""zmqtui: a terminal UI and headless services for building and watching ZeroMQ microservices."""
