"""The techniques themselves (torch / numpy), usable without the simulator. Never imports `harness`."""
