"""Console jobs: imports, exports and photo uploads run by a worker on the `jobs` queue, their state in the
Job table (progress, log, summary, cancel), so they survive a page reload and a worker restart."""
