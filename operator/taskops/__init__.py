"""taskops: a Kubernetes operator for task workloads (TaskJob, TaskSchedule)."""
