"""The RLHF run: the loop, its settings, clip recording, the run folder, the report, presets."""
