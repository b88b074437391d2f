"""Authentication (who is asking) kept apart from authorization (what they may do), as in Jupyter."""
