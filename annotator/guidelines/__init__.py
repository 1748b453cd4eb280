"""Annotation guidelines: one per category, versioned; what annotators read before and while they label."""
