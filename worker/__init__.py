"""optrack's worker: leases runs over HTTP, trains them with optim_core, streams metrics,
checkpoints and heartbeats. Needs a server URL (and later a token), never database access."""
