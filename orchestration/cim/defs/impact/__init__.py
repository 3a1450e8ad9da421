"""Impact of actions: difference-in-differences, event study and displacement."""
