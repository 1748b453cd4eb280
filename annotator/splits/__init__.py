"""Assigning faces to train/val in bulk: stratified by category, grouped by source photo (the console's splits page and `assign_splits`)."""
