"""The grading engine, free of Django: exercise packages, the fake model, the sandbox, the runner.

Exercise code imports only :mod:`grader.sdk`; the platform (``assessments``) imports the rest.
"""
