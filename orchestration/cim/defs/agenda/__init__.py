"""The city configuration and common agenda, mirrored into the warehouse."""
