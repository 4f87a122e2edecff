"""Scenario configuration: pydantic models for every top-level block, loading, overrides and sweeps."""
