"""Grafana as code: dashboards, alert rules, provisioning, contractor isolation."""
