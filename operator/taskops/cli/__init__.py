"""`kubectl taskops`: the command line of taskops (a kubectl plugin).

One module per verb (`next_cmd`, `run_cmd`, `wait_cmd`, ...), plus the concerns
they share: `cluster` (the API client, from the kubeconfig and context),
`options` (kubectl's flags), `render` (tables, times, `-o json|yaml`) and
`errors` (exit codes). Verbs compute what to show with pure functions that the
unit tests call with fixed objects; only `cluster` talks to the API server.
"""
