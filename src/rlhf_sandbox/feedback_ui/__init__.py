"""The pygame app where people compare, rate and play."""
