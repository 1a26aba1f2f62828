"""optrack's client side: what code outside the service imports to talk to it (today the wire
encoding shared by the service and its workers)."""
