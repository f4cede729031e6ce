"""Clinical scenarios: test patients for every decision row, with expected outcomes."""
