"""The daemon's control interface: HTTP server, XML-RPC API, status pages."""
