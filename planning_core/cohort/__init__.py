"""Planning whole cohorts: a manifest of cases planned as Dask tasks, results as tables."""
