"""Many runs on Ray: the sweep file, the runs, the summary."""
