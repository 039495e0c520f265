"""The batched driving world: roads, vehicles, IDM/MOBIL traffic, features, drawing."""
