"""The processing stage between the pollers and the fan-out: guards, derived signals, deadbands.

A pure core (no I/O, no clock, no logging: every time comes from the updates):

* :mod:`.expression`: the expression language of derived signals (tokens, parser, syntax tree);
* :mod:`.evaluation`: an expression turned into a function of its sources' values;
* :mod:`.references`: names in expressions resolved to signals of the configuration;
* :mod:`.derived`: the derived signals' graph and their evaluation when a source updates;
* :mod:`.guards`: total-increasing, range and rate guards of one signal;
* :mod:`.deadband`: publish only on change, with a heartbeat.

Around it, in the gateway layer: :mod:`.stage` (the stage itself: logs what the core
reports, feeds the fan-out) and :mod:`.store` (the guards' last accepted values in a
small SQLite file, so that they survive a restart).
"""
