"""The lead's console: admins' own pages for data operations (jobs, splits, spot checks) and their history."""
