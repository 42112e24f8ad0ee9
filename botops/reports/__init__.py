"""Reports: pure builders over plain data (no database, no clock, no HTTP).

    activity     DayActivity: one group's figures for one local day
    inactivity   which rule applies to a group, and whether it fires (with a reason)
    report       the `botops report` data, built once from plain inputs
    table_view, json_view, html_view   the report rendered three ways (svg: its charts)
    digest       the daily ops-robot markdown

The store gathers the inputs (botops.store.activity, .inactivity, .report_inputs); the CLI
and the daemon put the two together.
"""
