"""Helper process for the kill test: appends batches forever, reporting each commit.

Usage: python history_writer.py DB_PATH BATCH_SIZE

After every committed batch it prints the total number of rows committed so
far on its own line and flushes stdout, so the parent knows exactly which rows
must survive a SIGKILL. Row ``n`` has value ``float(n)`` and time stamp
2025-01-01 00:00 UTC + ``n`` seconds.
"""

from __future__ import annotations

import datetime as dt
import sys

from obisgate.gateway.history import HistoryRecord, HistoryStore

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def main() -> None:
    path, batch = sys.argv[1], int(sys.argv[2])
    committed = 0
    with HistoryStore(path) as store:
        while True:
            store.append(
                HistoryRecord("dev", "sig", START + dt.timedelta(seconds=n), float(n), "kWh")
                for n in range(committed, committed + batch)
            )
            committed += batch
            sys.stdout.write(f"{committed}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
