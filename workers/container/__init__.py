"""Tenant containers: each app's runtime in namespaces and a cgroup of its own.

A tenant runtime runs as PID 1 of a container made by bubblewrap (``bwrap``), entered from a
root launcher that first puts itself into the app's cgroup and its named network namespace,
then drops to the app's user. Modules, one concern each:

- ``spec``: what a container is made of (``ContainerSpec``), saved as root-owned JSON;
- ``cgroups``: the app's cgroup (v1 or v2) with its limits;
- ``netns``: the app's named network namespace (its own loopback);
- ``launch_ns``: the mount namespace containers are made in (the host's, without the apps'
  network namespaces, which made bwrap's start grow with their number);
- ``notes``: what root notes on /run about the namespaces it made (read whole or not at all);
- ``view``: the filesystem the tenant sees, as bwrap arguments (shared by the runtime's
  container, config validation and ``hostingctl exec``);
- ``launch``: ``python -m workers.container.launch SPEC`` (the host runtime's program);
- ``enter``: run a command inside a running container as its user;
- ``probe``: whether this host can make containers at all, and why not.

See docs/CONTAINERS.md for why bubblewrap and what each piece guards against.
"""
