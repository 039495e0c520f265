"""The batched 2-D arena world: NPCs, a player, walls, line of sight, drawing."""
