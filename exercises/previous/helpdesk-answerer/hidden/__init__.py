"""Hidden grading material for helpdesk-answerer. Loaded by path by the runner; never shipped."""
