"""Scale benchmarks: taskops against the built-in Job and CronJob controllers.

Each scenario runs on the bench cluster (`bench/cluster/up`: the test
cluster's control plane with kwok's fake nodes and an audit log), one side
after the other on a fresh etcd, and appends one JSON line per run to
`bench/results/<scenario>.jsonl`. `bench/report` turns those lines into
`bench/README.md`. Run as `python -m bench.scale <scenario> ...`.
"""
