"""Not public API: the training jobs behind the `tfp-flows` command.

Each job is a module here with `run(opts: JobOptions) -> dict` (the metrics it
printed). `tfp_flows.cli.JOBS` maps the `--model` choices to these modules.
"""
