"""Output formats of `harness report`: each module lays out the same `reports.build.Report`."""
