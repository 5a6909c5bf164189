"""The applications built on the estimators: the command line, the server, the report.

Nothing in the estimators imports from here.
"""
