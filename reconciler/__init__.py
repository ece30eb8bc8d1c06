"""reconciler: a declarative reconciler for VM images (plan and apply a desired-state file)."""

__version__ = "0.1.0"
