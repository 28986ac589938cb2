"""bmlocal: the cloud training-job API served locally, running real jobs."""
