"""Backbone cockpit: overdue-feed checks, reminders and the daily health refresh."""
