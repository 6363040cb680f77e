"""The HTTP layer: routes, error mapping, origin policy."""
