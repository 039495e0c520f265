"""Clip files and the preference database."""
