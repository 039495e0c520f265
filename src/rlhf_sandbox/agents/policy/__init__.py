"""What acts: PPO settings, building, training, saving and loading policies; NPC training."""
