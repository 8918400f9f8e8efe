"""Training one network: the dataset as tensors, augmentation on batches, learning-rate schedules, the metrics every
part of the tool shares, and one cross-validation fold's training."""
