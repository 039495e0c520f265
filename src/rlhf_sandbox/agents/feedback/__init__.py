"""From people's (or synthetic) answers to training data: query selection, labels to
pairs, clip queues, rater statistics."""
