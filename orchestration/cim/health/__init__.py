"""Feed health for the backbone: reminders to late partners and a terminal report."""
