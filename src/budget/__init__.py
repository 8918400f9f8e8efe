"""What a network and its training cost: closed-form sizes and MACs, the traced check, the training-time model and the
budget policy that plans a run's wall time with it."""
