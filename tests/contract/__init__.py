"""Contract servers: the four third-party task APIs, each following its document in shared/seeds to
the letter (paths, bodies, status codes, error bodies), in memory, for the dialect tests.

Where a document is silent (an error body, a list's wrapper) the server does what that kind of
server usually does, and says so in a comment. Each also has a `/_contract/...` control API, which is
not part of the document: tests use it to make tasks appear and move, as the real pipelines would.
"""
