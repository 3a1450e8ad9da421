"""Collective Impact Monitor: the Streamlit dashboard over the published snapshot."""
