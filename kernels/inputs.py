"""Random inputs for timed ops, drawn on the device they are used on.

The profiler passes one seeded CPU ``torch.Generator``; ops draw their (large) inputs on the target device from a
generator seeded off it, so a 125M-element gradient is not generated on the host and copied over, and the same
profiler seed gives the same inputs on the same device.
"""

from __future__ import annotations

import torch


def device_generator(gen: torch.Generator, device: str | torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from the next draw of ``gen``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen).item())
    return torch.Generator(device=device).manual_seed(seed)
