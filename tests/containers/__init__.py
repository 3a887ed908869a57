"""Tenant containers: real bwrap, cgroups and network namespaces (root only)."""
