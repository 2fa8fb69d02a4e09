"""Scoring: the metrics, their intervals, and the scoring of a method, a folder or a single huge image."""
