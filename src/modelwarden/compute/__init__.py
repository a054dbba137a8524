"""Training compute: parameter counts from configs (`params`), estimates as bands (`estimate`),
threshold calls (`calls`) and the accelerator table (`hardware`)."""

from modelwarden.compute.calls import DEFAULT_THRESHOLDS, one_third_rule, threshold_call
from modelwarden.compute.estimate import estimate_compute

__all__ = ["DEFAULT_THRESHOLDS", "estimate_compute", "one_third_rule", "threshold_call"]
