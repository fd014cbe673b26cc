"""Runtime: launch compiled kernels on torch tensors. Imports no MLIR (GPU machines have none)."""
