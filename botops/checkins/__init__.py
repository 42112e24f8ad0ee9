"""Check-ins (打卡): the pure rules engine and the one place that wires it to the ledger.

message.Message      what every source (callback, chat archive, simulator) produces
rules.evaluate       pure: rule + timezone + message + member history -> Decision
engine.apply         history -> evaluate -> record, in the caller's transaction
"""
