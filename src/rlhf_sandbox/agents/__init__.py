"""What learns and decides: reward models, teachers, PPO, the RLHF loop, evaluation."""
