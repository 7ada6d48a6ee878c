"""Gap-free history: after a gap, the intervals a meter recorded in its load profile.

:mod:`.times` (meter clock and UTC, interval boundaries), :mod:`.spans` (the
ranges still to fill), :mod:`.intervals` (profile rows -> updates) and
:mod:`.device` (one device's backfill state) are pure; :mod:`.reading` runs the
programming session and :mod:`.line` takes turns with the polls of a line.
"""
