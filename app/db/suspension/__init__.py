"""Queries of what happens to the overdue (app/services/suspension): the official calendar
(`calendar`), stop reports and moratoria (`stops`), verification cases (`cases`) and the
sweep's snapshot of answers (`states`). The locks decisions take are app/db/locks.py."""
