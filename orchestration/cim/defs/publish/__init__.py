"""Publishing: the checked mart becomes the snapshot every reader opens."""
