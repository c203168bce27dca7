"""Applications served by the load tests (see loadapp.py)."""
