"""Hosted mode: the MCP authorization server (issue 17). Each person's MCP client gets tokens of its
own through OAuth 2.1 (the SDK's `mcp.server.auth` with our provider), each token standing for one
person, and every tool call acts as that person in their own Xero.

Kept import-free so that `server.app` can import `principal` without pulling in the OAuth stack:
`routes.open_hosted` builds everything, `routes.revoke_person` serves `users revoke`.
"""
