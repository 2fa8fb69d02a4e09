"""Results out: the result file, its schema, the tables, the published board and its pictures."""
