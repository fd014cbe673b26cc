"""CPU executor for the generated gfx942/gfx950 kernels (the IR after moe-to-flydsl: upstream dialects
plus every ROCDL instruction the kernels use, before control flow is flattened)."""
