"""A supervisord-compatible process supervisor (drop-in for supervisor 4.3.0)."""

VERSION = "0.1.0"
# The XML-RPC API version we speak; supervisorctl checks it.
API_VERSION = "3.0"
