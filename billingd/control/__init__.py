"""The control socket: JSON-RPC 2.0 framing, the method registry, server and client."""
