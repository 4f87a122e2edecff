"""Timing tables: strict loading (`harness.timing.table`) and replay exact -> interpolate -> roofline
(`harness.timing.replay`). Import from the submodules; this package re-exports nothing so that
`harness.devices` (which reads meta.json through `harness.timing.table`) imports without a cycle."""
