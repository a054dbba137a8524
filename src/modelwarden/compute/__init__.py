"""Parameter counts from configs (`params`) and training-compute estimates built on them."""
