"""A supervisord-compatible process supervisor (drop-in for supervisor 4.3.0)."""

# Our own release. Clients never see it where they look for supervisord's version; it is
# in the HTTP "Server" header of every answer and the status page's footer.
VERSION = "0.1.0"
# The supervisord release whose behaviour we reproduce, and so the version clients are
# told (getSupervisorVersion, supervisorctl version, supervisord -v): a client that picks
# features by version must take us for 4.3.0, not for a pre-3.0 supervisord.
SUPERVISOR_VERSION = "4.3.0"
# The XML-RPC API version we speak; supervisorctl checks it.
API_VERSION = "3.0"
