"""Parameter counts from configs (`params`) and training-compute estimates built on them."""

from modelwarden.compute.estimate import estimate_compute
from modelwarden.compute.thresholds import threshold_call

__all__ = ["estimate_compute", "threshold_call"]
